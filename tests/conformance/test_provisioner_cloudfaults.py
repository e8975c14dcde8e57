"""fleeting's own Provisioner through cloud faults (issue 17, items 4 and 5): the Go tests
hang_test.go (Nova's server list hangs for 2 minutes behind the project's fault proxy)
and unseen_test.go (nova-compute paused: servers no compute host touched) of
tests/conformance/provisioner, on the harness of test_provisioner.py (same
$FLEETING_PROVISIONER_CONFIG, same preconditions). Prints the recovery figures.

Needs (fails, never skips, without them): root, Go, the devcloud as test_provisioner.py
needs it; pauses the shared devcloud's nova-compute for at most 20 s (resumed in any case).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import test_provisioner as suite
import yaml
from installed import plugin_executable

HERE = Path(__file__).parent
TESTS = ("TestNovaListHangsTwoMinutes", "TestUnseenCreatesAreListedNotPruned")


def test_provisioner_through_cloud_faults(devcloud: dict[str, Any], admin: Any, tmp_path: Path) -> None:
    suite.preconditions(devcloud)
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
        "images": {"tiny-raw": fx["images"]["tiny-raw"], **suite.e2e_images(admin)},
        "flavor": fx["flavors"]["m1.tiny"],
        "network": fx["networks"]["workers"],
        "shared_network": fx["networks"]["private"],
        "security_group": fx["security_group"]["name"],
        "server_group": fx["server_group"]["id"],
        "helper": str(suite.HELPER),
        "driver_state": str(suite.DRIVER_STATE),
        "tmp_dir": str(tmp_path),
        "run_id": run_id,
    }
    (tmp_path / "provisioner.json").write_text(json.dumps(config, indent=1))
    env = dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable(), FLEETING_PYTHON=sys.executable,
               FLEETING_PROVISIONER_CONFIG=str(tmp_path / "provisioner.json"))
    started = time.monotonic()
    try:
        proc = subprocess.run([shutil.which("go"), "test", "-count=1", "-v", "-tags", "provisioner",
                               "-run", "^(" + "|".join(TESTS) + ")$", "-parallel", "2", "-timeout", "10m",
                               "./provisioner/..."],
                              cwd=HERE, env=env, capture_output=True, text=True, timeout=720)
    finally:
        leftovers = [s for s in admin.compute.servers(all_projects=True)
                     if (s.name or "").startswith("prov-") and f"-{run_id}-" in (s.name or "")]
        for server in leftovers:
            admin.compute.delete_server(server.id, ignore_missing=True)
        for server in leftovers:
            admin.compute.wait_for_delete(server, wait=120)
    (tmp_path / "go-test.log").write_text(proc.stdout + proc.stderr)
    print(f"\nProvisioner through cloud faults: {time.monotonic() - started:.1f}s "
          f"(full output: {tmp_path / 'go-test.log'})")
    print("\n".join(line.strip() for line in proc.stdout.splitlines()
                    if re.search(r"RECOVERY|UNSEEN|^\s*(---|ok|FAIL)", line)))
    assert proc.returncode == 0, proc.stdout[-15000:] + proc.stderr[-3000:]
    assert "--- SKIP" not in proc.stdout
    for name in TESTS:
        assert f"--- PASS: {name} " in proc.stdout, f"{name} did not pass:\n" + proc.stdout[-6000:]
    assert not leftovers, f"servers of the run left behind: {[s.name for s in leftovers]}"
