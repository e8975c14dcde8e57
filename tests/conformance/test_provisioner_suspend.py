"""fleeting's own Provisioner suspending and resuming servers (issue 19): the Go test
suspend_test.go of tests/conformance/provisioner, per suspend_mode (stop, suspend, shelve), on
the harness of test_provisioner.py (same $FLEETING_PROVISIONER_CONFIG, same preconditions, run
confined the same way): Suspend -> suspended; the plugin restarted while suspended; a Resume Nova
refuses for one server (locked) is a partial error with the others resumed; ResumeAndWait ->
running; SSH with the ConnectInfo answer works again. Prints the times it logged.

Needs (fails, never skips, without them): root, Go, the devcloud with nova-compute running this
checkout's test driver (its power actions: tests/devcloud/testdriver/fleeting_testdriver.py).
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import test_provisioner as suite
from driver_suites import build_go_test, delete_run_servers, provisioner_env, run_confined

HERE = Path(__file__).parent
MODES = ("stop", "suspend", "shelve")


def test_provisioner_suspends_and_resumes(devcloud: dict[str, Any], admin: Any, tmp_path: Path) -> None:
    suite.preconditions(devcloud)
    run_id = uuid.uuid4().hex[:6]
    env = provisioner_env(devcloud, admin, tmp_path, run_id)
    binary = tmp_path / "provisioner.test"
    build_go_test("provisioner", binary, env)
    started = time.monotonic()
    try:
        proc = run_confined(f"fleeting-susp-{run_id}",
                            [str(binary), "-test.count=1", "-test.v", "-test.parallel=3",
                             "-test.run", "^TestSuspendResume$", "-test.timeout=14m"],
                            cwd=HERE / "provisioner", env=env, timeout=960)
    finally:
        leftovers = delete_run_servers(admin, lambda name: name.startswith("prov-susp") and f"-{run_id}-" in name)
    (tmp_path / "go-test.log").write_text(proc.stdout + proc.stderr)
    print(f"\nProvisioner suspend/resume: {time.monotonic() - started:.1f}s (full output: {tmp_path / 'go-test.log'})")
    print("\n".join(line.strip() for line in proc.stdout.splitlines()
                    if re.search(r"-> |partial Resume|^\s*(---|ok|FAIL)", line)))
    assert proc.returncode == 0, proc.stdout[-15000:] + proc.stderr[-3000:]
    assert "--- SKIP" not in proc.stdout
    for mode in MODES:
        assert f"--- PASS: TestSuspendResume/{mode} " in proc.stdout, f"{mode} did not pass:\n" + proc.stdout[-6000:]
    assert not leftovers, f"servers of the run left behind: {[s.name for s in leftovers]}"
