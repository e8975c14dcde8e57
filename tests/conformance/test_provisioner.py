"""fleeting's own Provisioner against the devcloud (tests/conformance/provisioner).

The Go package (build tag ``provisioner``) starts the installed plugin with
``fleeting.RunPlugin`` and drives it with ``fleeting.Init``'s Provisioner, what
gitlab-runner's taskscaler drives: scale to max_size and back, servers
deleted/stopped/put in ERROR behind the plugin's back, a plugin killed
mid-Increase and started again, Updates across a full resync, Heartbeat,
Increase beyond a quota, Decrease of unknown ids, Shutdown through go-plugin's
controller. This wrapper checks the preconditions, writes the devcloud
resources for it ($FLEETING_PROVISIONER_CONFIG), runs it and removes whatever
a failed run left.

The Go test process and its children (the plugin) run confined like the E2E
(tests/support/confinement.py: they may send only over loopback and the test
driver's bridges), besides the Go-side checks before every SSH connection.

Needs (fails, never skips, without them): root, Go, the devcloud with
nova-compute running the test driver (docs/e2e.md; scripts/test starts it so).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from confinement import confined
from confinement import join as join_cgroup
from installed import plugin_executable
from project import ROOT

HERE = Path(__file__).parent
TESTDRIVER = ROOT / "tests" / "devcloud" / "testdriver"
HELPER = TESTDRIVER / "e2e_instance.py"
DRIVER = "fleeting_testdriver.TestDriver"
DRIVER_STATE = Path(os.environ.get("FLEETING_E2E_STATE", "/var/lib/fleeting-e2e"))

# The E2E images (tests/e2e/test_e2e.py makes the same ones; whoever runs first creates them).
IMAGES = {
    "ubuntu": ("e2e-ubuntu", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "fleeting_e2e_os": "ubuntu"}),
    "flatcar": ("e2e-flatcar", {"os_admin_user": "core", "os_distro": "flatcar", "fleeting_e2e_os": "flatcar"}),
}

#: every test of the Go package; each must pass (a missing one fails this wrapper)
TESTS = (
    "TestScaleToMaxAndBack",
    "TestServersChangedBehindThePluginsBack",
    "TestThirtyUpdatesAcrossFullResyncs",
    "TestKilledMidIncreaseAndStartedAgain",
    "TestHeartbeat",
    "TestIncreaseBeyondQuota",
    "TestIncreaseRefusedByNova",
    "TestDecreaseOfIdsThisProcessNeverCreated",
    "TestShutdownThroughTheController",
)


def nova_compute_driver(state: Path) -> tuple[str, str]:
    conf = (state / "etc/nova/nova-compute.conf").read_text()
    driver = [line.split("=", 1)[1].strip() for line in conf.splitlines()
              if line.strip().startswith("compute_driver")][-1]
    pid = int((state / "run/nova-compute.pid").read_text().split()[0])
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pythonpath = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"PYTHONPATH=")), "")
    return driver, pythonpath


def same_driver(directory: Path) -> bool:
    """``directory`` holds this checkout's test driver (the devcloud may run another checkout's copy)."""
    try:
        return all((directory / f.name).read_bytes() == f.read_bytes() for f in TESTDRIVER.glob("*.py"))
    except OSError:
        return False


def preconditions(devcloud: dict[str, Any]) -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (the test driver's instances are reached over SSH in network namespaces)")
    if not shutil.which("go"):
        problems.append("Go is required")
    state = Path(devcloud["clouds_yaml"]).parent
    try:
        driver, pythonpath = nova_compute_driver(state)
    except (OSError, ValueError, IndexError, StopIteration) as exc:
        problems.append(f"cannot tell which virt driver nova-compute runs: {exc}")
    else:
        same = [d for d in pythonpath.split(":") if d and same_driver(Path(d))]
        if driver != DRIVER or not same:
            problems.append(
                f"nova-compute runs compute_driver={driver} with PYTHONPATH={pythonpath!r}; this suite needs "
                f"the test driver: DEVCLOUD_COMPUTE_DRIVER={DRIVER} "
                f"DEVCLOUD_EXTRA_PYTHONPATH={TESTDRIVER} tests/devcloud/start")
    if problems:
        pytest.fail("Provisioner suite preconditions:\n  - " + "\n  - ".join(problems))


def e2e_images(admin) -> dict[str, str]:
    out = {}
    for key, (name, props) in IMAGES.items():
        image = admin.image.find_image(name)
        if image is None:
            image = admin.image.create_image(
                name=name, disk_format="raw", container_format="bare", visibility="public",
                data=b"\0" * 16384, os_type="linux", architecture="x86_64", fleeting_e2e="true", **props)
        out[key] = image.id
    return out


def test_fleeting_provisioner(devcloud, admin, tmp_path) -> None:
    preconditions(devcloud)
    fx = devcloud
    run_id = uuid.uuid4().hex[:6]
    clouds = yaml.safe_load(Path(fx["clouds_yaml"]).read_text())["clouds"]
    auth = clouds[fx["clouds"]["admin"]]["auth"]
    config = {
        "plugin_bin": plugin_executable(),
        "clouds_yaml": fx["clouds_yaml"],
        "cloud": fx["clouds"]["demo"],
        "project": fx["project"]["id"],
        "admin": {k: auth[k] for k in ("auth_url", "username", "password", "project_name",
                                       "user_domain_name", "project_domain_name")},
        "images": {"tiny-raw": fx["images"]["tiny-raw"], **e2e_images(admin)},
        "flavor": fx["flavors"]["m1.tiny"],
        "network": fx["networks"]["workers"],
        "shared_network": fx["networks"]["private"],
        "security_group": fx["security_group"]["name"],
        "server_group": fx["server_group"]["id"],
        "helper": str(HELPER),
        "driver_state": str(DRIVER_STATE),
        "tmp_dir": str(tmp_path),
        "run_id": run_id,
    }
    (tmp_path / "provisioner.json").write_text(json.dumps(config, indent=1))
    env = dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable(),
               FLEETING_PROVISIONER_CONFIG=str(tmp_path / "provisioner.json"))
    go = shutil.which("go")
    # Compiled outside the confinement (the module proxy is not loopback), run inside it.
    binary = tmp_path / "provisioner.test"
    build = subprocess.run([go, "test", "-tags", "provisioner", "-c", "-o", str(binary), "./provisioner"],
                           cwd=HERE, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    started = time.monotonic()
    try:
        with confined(f"fleeting-prov-{run_id}") as cgroup:
            # only this suite's tests: the package also holds the cloud-fault tests
            # (hang_test.go, unseen_test.go), run by test_provisioner_cloudfaults.py
            proc = subprocess.run([str(binary), "-test.count=1", "-test.v", "-test.parallel=8",
                                   "-test.run", "^(" + "|".join(TESTS) + ")$", "-test.timeout=12m"], cwd=HERE / "provisioner", env=env,
                                  capture_output=True, text=True, timeout=900, preexec_fn=join_cgroup(cgroup))
    finally:
        leftovers = [s for s in admin.compute.servers(all_projects=True)
                     if (s.name or "").startswith("prov-") and f"-{run_id}-" in (s.name or "")]
        for server in leftovers:
            admin.compute.delete_server(server.id, ignore_missing=True)
        for server in leftovers:
            admin.compute.wait_for_delete(server, wait=120)
        # the quota tests' own projects (their Go cleanup deletes them; a killed run may not have)
        projects = [p for p in admin.identity.projects() if p.name in (f"prov-quota-{run_id}", f"prov-sgquota-{run_id}")]
        for project in projects:
            for sg in admin.network.security_groups(project_id=project.id):
                admin.network.delete_security_group(sg, ignore_missing=True)
            for group in admin.compute.server_groups(all_projects=True):
                if group.project_id == project.id:
                    admin.compute.delete_server_group(group, ignore_missing=True)
            admin.identity.delete_project(project, ignore_missing=True)
    elapsed = time.monotonic() - started
    (tmp_path / "go-test.log").write_text(proc.stdout + proc.stderr)
    print(f"\nProvisioner suite: {elapsed:.1f}s (full output: {tmp_path / 'go-test.log'})")
    print("\n".join(line for line in proc.stdout.splitlines()
                    if line.lstrip().startswith(("---", "ok", "FAIL")) or "_test.go" in line))
    assert proc.returncode == 0, proc.stdout[-15000:] + proc.stderr[-3000:]
    assert "--- SKIP" not in proc.stdout
    for name in TESTS:
        assert f"--- PASS: {name} " in proc.stdout, f"{name} did not pass:\n" + proc.stdout[-6000:]
    assert not leftovers, f"servers of the run left behind: {[s.name for s in leftovers]}"
    assert not projects, f"the quota tests left their projects behind (deleted now): {[p.name for p in projects]}"
