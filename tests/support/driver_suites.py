"""What the Go suites on the devcloud's test driver share (docs/e2e.md): tests/e2e/test_e2e.py,
tests/conformance/test_provisioner.py and test_provisioner_cloudfaults.py.

The test driver's checks (which virt driver nova-compute runs, from which checkout), the E2E
images, the Go test binary compiled outside the confinement and run inside it
(tests/support/confinement.py), the provisioner suites' $FLEETING_PROVISIONER_CONFIG, and the
removal of the servers a run left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from confinement import confined, join
from installed import plugin_executable
from project import CONFORMANCE, ROOT
from sdkfind import image_named

TESTDRIVER = ROOT / "tests" / "devcloud" / "testdriver"
HELPER = TESTDRIVER / "e2e_instance.py"
DRIVER = "fleeting_testdriver.TestDriver"
DRIVER_STATE = Path(os.environ.get("FLEETING_E2E_STATE", "/var/lib/fleeting-e2e"))

#: the E2E images (public, created by whichever suite runs first, with the admin cloud)
IMAGES = {
    "ubuntu": ("e2e-ubuntu", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "fleeting_e2e_os": "ubuntu"}),
    "flatcar": ("e2e-flatcar", {"os_admin_user": "core", "os_distro": "flatcar", "fleeting_e2e_os": "flatcar"}),
}


def nova_compute_driver(state: Path) -> tuple[str, str]:
    """(compute_driver in nova-compute.conf, PYTHONPATH of the running nova-compute)."""
    conf = (state / "etc/nova/nova-compute.conf").read_text()
    driver = [line.split("=", 1)[1].strip() for line in conf.splitlines()
              if line.strip().startswith("compute_driver")][-1]
    pid = int((state / "run/nova-compute.pid").read_text().split()[0])
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pythonpath = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"PYTHONPATH=")), "")
    return driver, pythonpath


def same_testdriver(directory: Path) -> bool:
    """``directory`` holds this checkout's test driver (the same files: another worktree of it will do)."""
    try:
        return all((directory / f.name).read_bytes() == f.read_bytes() for f in TESTDRIVER.glob("*.py"))
    except OSError:
        return False


def driver_problem(devcloud: dict[str, Any], who: str) -> str | None:
    """What is wrong with the devcloud's nova-compute for ``who`` (e.g. "the E2E"), or None:
    it must run this checkout's test driver."""
    state = Path(devcloud["clouds_yaml"]).parent
    try:
        driver, pythonpath = nova_compute_driver(state)
    except (OSError, ValueError, IndexError, StopIteration) as exc:
        return f"cannot tell which virt driver nova-compute runs: {exc}"
    if driver != DRIVER or not any(same_testdriver(Path(p)) for p in pythonpath.split(":") if p):
        return (f"nova-compute runs compute_driver={driver} with PYTHONPATH={pythonpath!r}; {who} needs "
                f"the test driver: DEVCLOUD_COMPUTE_DRIVER={DRIVER} "
                f"DEVCLOUD_EXTRA_PYTHONPATH={TESTDRIVER} tests/devcloud/start")
    return None


def e2e_images(admin: Any, images: dict[str, tuple[str, dict[str, str]]] = IMAGES) -> dict[str, str]:
    """key -> image id of ``images`` (key -> (name, properties)), each created when missing."""
    out = {}
    for key, (name, props) in images.items():
        image = image_named(admin, name)
        if image is None:
            image = admin.image.create_image(
                name=name, disk_format="raw", container_format="bare", visibility="public",
                data=b"\0" * 16384, os_type="linux", architecture="x86_64", fleeting_e2e="true", **props)
        out[key] = image.id
    return out


def provisioner_env(devcloud: dict[str, Any], admin: Any, tmp_path: Path, run_id: str,
                    **extra: str) -> dict[str, str]:
    """Writes tests/conformance/provisioner's config (tmp_path/provisioner.json) for this devcloud;
    the environment that names it ($FLEETING_PROVISIONER_CONFIG), the plugin and ``extra``."""
    fx = devcloud
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
    return dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable(), **extra,
                FLEETING_PROVISIONER_CONFIG=str(tmp_path / "provisioner.json"))


def build_go_test(tag: str, binary: Path, env: dict[str, str]) -> None:
    """``go test -c`` of tests/conformance/<tag> (build tag ``tag``) into ``binary``; compiled
    outside the confinement (the module proxy is not loopback)."""
    build = subprocess.run([shutil.which("go"), "test", "-tags", tag, "-c", "-o", str(binary), f"./{tag}"],
                           cwd=CONFORMANCE, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]


def run_confined(cgroup: str, argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
                 chain: str | None = None) -> subprocess.CompletedProcess:
    """argv (and its children) run in the cgroup ``cgroup`` of :func:`confinement.confined`."""
    with confined(cgroup, chain=chain) as group:
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=join(group))


def delete_run_servers(admin: Any, of_run: Callable[[str], bool]) -> list[Any]:
    """Deletes every server whose name ``of_run`` accepts, waits till they are gone; returns them."""
    leftovers = [s for s in admin.compute.servers(all_projects=True) if of_run(s.name or "")]
    for server in leftovers:
        admin.compute.delete_server(server.id, ignore_missing=True)
    for server in leftovers:
        admin.compute.wait_for_delete(server, wait=120)
    return leftovers
