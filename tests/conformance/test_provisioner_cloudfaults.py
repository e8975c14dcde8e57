"""fleeting's own Provisioner through cloud faults (issue 17, items 4 and 5): the Go tests
hang_test.go (Nova's server list hangs for 2 minutes behind the project's fault proxy)
and unseen_test.go (nova-compute paused: servers no compute host touched) of
tests/conformance/provisioner, on the harness of test_provisioner.py (same
$FLEETING_PROVISIONER_CONFIG, same preconditions). Prints the recovery figures.

Needs (fails, never skips, without them): root, Go, the devcloud as test_provisioner.py
needs it; pauses the shared devcloud's nova-compute for at most 20 s (resumed in any case).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import test_provisioner as suite
from driver_suites import delete_run_servers, provisioner_env

HERE = Path(__file__).parent
TESTS = ("TestNovaListHangsTwoMinutes", "TestUnseenCreatesAreListedNotPruned")


def test_provisioner_through_cloud_faults(devcloud: dict[str, Any], admin: Any, tmp_path: Path) -> None:
    suite.preconditions(devcloud)
    run_id = uuid.uuid4().hex[:6]
    env = provisioner_env(devcloud, admin, tmp_path, run_id, FLEETING_PYTHON=sys.executable)
    started = time.monotonic()
    try:
        proc = subprocess.run([shutil.which("go"), "test", "-count=1", "-v", "-tags", "provisioner",
                               "-run", "^(" + "|".join(TESTS) + ")$", "-parallel", "2", "-timeout", "10m",
                               "./provisioner/..."],
                              cwd=HERE, env=env, capture_output=True, text=True, timeout=720)
    finally:
        leftovers = delete_run_servers(admin, lambda name: name.startswith("prov-") and f"-{run_id}-" in name)
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
