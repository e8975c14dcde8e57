"""CI size of bench/soak.py against the devcloud: a few scale up/down cycles
with 0 leaks, 0 duplicate names and 0 failed calls (the 1000-cycle run is
documented in docs/troubleshooting.md#fault-suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from project import ROOT



def test_soak_small(devcloud):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--cycles", "2", "--size", "2"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["servers_made"] == 4 and report["names_seen"] == 4
    assert report["duplicate_names"] == 0
    assert report["leaks"] == {"servers": 0, "floating_ips": 0}
    assert report["failed_calls"] == {}
