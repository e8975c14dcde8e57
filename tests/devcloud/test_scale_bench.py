"""The scale bench in CI (small N), with its sanity run on the devcloud. Asserts
request counts and concurrency, never wall-clock times. The stand-in's view of the
plugin's concurrency: tests/unit/provider/test_scale_standin.py. The correctness of
changes-since is proven on the real devcloud (tests/devcloud/test_groupview_devcloud.py);
the stand-in is for scale only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_ci_bench_counts(tmp_path, devcloud):
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--ci", "--devcloud", "--json", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Update (own N among" in run.stdout and "Increase(n)/Decrease(n)" in run.stdout
    result = json.loads(out.read_text())
    for row in result["update"]:
        after, before, original = row["after"], row["before"], row["original"]
        assert after["first"]["servers"] == after["steady"]["servers"] == row["n"]
        assert after["first"]["requests"] == 1  # the full resync: one page of the group
        assert after["steady"]["requests"] == 1 and after["steady"]["bytes"] == len(b'{"servers":[]}')
        assert before["steady"]["requests"] == 1 and before["steady"]["bytes"] == after["first"]["bytes"]
        assert original["requests"] == 1 and original["bytes"] > before["steady"]["bytes"]
    for row in result["scaling"]:
        n = row["n"]
        for mode in ("after", "before", "original"):
            assert row[mode]["increase"]["creates"] == n and row[mode]["decrease"]["deletes"] == n
        assert row["original"]["increase"]["peak"] == 1
        assert row["after"]["decrease"]["lists"] == 0  # Decrease uses the view
        assert row["before"]["decrease"]["lists"] == 1  # ... where it used to re-list
        assert 3 <= row["after"]["increase"]["peak"] <= 10
    dev = result["devcloud"]
    assert dev["update_after"]["requests"] == 1 and dev["update_after"]["bytes"] <= 20
    assert dev["decrease"]["lists"] == 0 and dev["decrease"]["requests"] == dev["n"]


def test_window_sweep_on_the_devcloud_counts(tmp_path, devcloud):
    """``bench/scale.py --sweep --devcloud``, tiny (a fixed window of 2 and the adaptive one,
    n = 3): every create and delete made and counted, nothing left behind. Counts only."""
    out = tmp_path / "sweep.json"
    run = subprocess.run([sys.executable, str(BENCH / "scale.py"), "--sweep", "--devcloud", "--windows", "2,adaptive",
                          "--sweep-ops", "3", "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    sweep = json.loads(out.read_text())["sweep"]
    assert [(r["target"], str(r["window"])) for r in sweep["rows"]] == [("devcloud", "2"), ("devcloud", "adaptive")]
    for r in sweep["rows"]:
        assert r["made"] == r["n"] == r["deleted"] == 3
    assert [(s["target"], s["n"]) for s in sweep["summary"]] == [("devcloud", 3)]
