"""bench/provisioner.py in the unit tier (small N, short intervals): Update under fleeting's
Provisioner call pattern costs one request per Update and lists what changed. Counts only,
never wall-clock or CPU times (the bench prints those)."""

from __future__ import annotations

import json
import subprocess
import sys

from project import ROOT


def test_provisioner_bench_counts(tmp_path):
    out = tmp_path / "provisioner.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "provisioner.py"), "--ci", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CPU per Update after the first" in run.stdout
    result = json.loads(out.read_text())
    args, rows = result["args"], result["rows"]
    n, delta, behind = args["n"], args["delta"], args["behind"]
    first, later = rows[0], rows[1:]
    assert first["requests"] == 1 and first["listed"] == n and first["changed"] == n
    assert all(r["requests"] == 1 for r in later)  # one changes-since request per Update, whatever changed
    phases = {s["phase"]: s for s in result["summary"]}
    assert phases["idle"]["listed"] == 0 and phases["idle"]["changed"] == 0  # an unchanged group: an empty answer
    assert phases["idle again"]["changed"] == 0
    assert phases[f"Increase({delta})"]["changed"] >= delta
    assert phases[f"{behind} deleted behind its back"]["changed"] >= behind
    assert phases[f"Decrease({delta})"]["changed"] >= delta
    # what the cloud listed is what changed within the delta's overlap window: never the group
    assert all(r["listed"] <= delta + behind for r in later)
    assert rows[-1]["instances"] == n - behind
