"""``bench/scale.py --sweep`` in the unit tier (small: fixed windows 1 and 5 and the adaptive
one, n = 12, stand-in C = 2 and 10): every create and delete is made and counted. Counts only,
never wall time (the sweep prints times and ratios; docs/architecture.md has the full table)."""

from __future__ import annotations

import json
import subprocess
import sys

from project import ROOT


def test_sweep_counts(tmp_path):
    out = tmp_path / "sweep.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--sweep", "--ci", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Window sweep" in run.stdout and "best fixed" in run.stdout
    sweep = json.loads(out.read_text())["sweep"]
    rows = sweep["rows"]
    assert {(r["target"], str(r["window"])) for r in rows} == {
        (f"stand-in C={c}", w) for c in (2, 10) for w in ("1", "5", "adaptive")
    }
    for r in rows:
        assert r["made"] == r["n"] == r["deleted"] == 12
        if r["window"] != "adaptive":
            assert r["create_peak"] <= r["window"] and r["create_final"] == r["window"]
        else:
            assert 1 <= r["create_final"] <= 10 and r["create_peak"] <= 10
    assert [(s["target"], s["n"]) for s in sweep["summary"]] == [("stand-in C=2", 12), ("stand-in C=10", 12)]
