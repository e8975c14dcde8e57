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

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from driver_suites import build_go_test, delete_run_servers, driver_problem, provisioner_env, run_confined

HERE = Path(__file__).parent

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


def preconditions(devcloud: dict[str, Any]) -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (the test driver's instances are reached over SSH in network namespaces)")
    if not shutil.which("go"):
        problems.append("Go is required")
    problem = driver_problem(devcloud, "this suite")
    if problem:
        problems.append(problem)
    if problems:
        pytest.fail("Provisioner suite preconditions:\n  - " + "\n  - ".join(problems))


def test_fleeting_provisioner(devcloud, admin, tmp_path) -> None:
    preconditions(devcloud)
    run_id = uuid.uuid4().hex[:6]
    env = provisioner_env(devcloud, admin, tmp_path, run_id)
    # Compiled outside the confinement (the module proxy is not loopback), run inside it.
    binary = tmp_path / "provisioner.test"
    build_go_test("provisioner", binary, env)
    started = time.monotonic()
    try:
        # only this suite's tests: the package also holds the cloud-fault tests
        # (hang_test.go, unseen_test.go), run by test_provisioner_cloudfaults.py
        proc = run_confined(f"fleeting-prov-{run_id}",
                            [str(binary), "-test.count=1", "-test.v", "-test.parallel=8",
                             "-test.run", "^(" + "|".join(TESTS) + ")$", "-test.timeout=12m"],
                            cwd=HERE / "provisioner", env=env, timeout=900)
    finally:
        leftovers = delete_run_servers(admin, lambda name: name.startswith("prov-") and f"-{run_id}-" in name)
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
