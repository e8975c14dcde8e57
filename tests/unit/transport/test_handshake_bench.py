"""bench/handshake.py in the unit tier: the installed plugin is exec'ed, handshakes and is
Init'ed against the stand-in holding 50 servers, and the bench prints the figures issue 21
names (exec -> handshake, RSS after Init). Counts and presence only: never a time or a size
limit (the bench prints those beside their goals)."""

from __future__ import annotations

import json
import subprocess
import sys

from installed import plugin_executable
from project import ROOT


def test_handshake_bench_prints_rss_after_init_with_50_servers(tmp_path):
    out = tmp_path / "handshake.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "handshake.py"), "--runs", "2", "--stand-in", "50",
         "--bin", plugin_executable(), "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "exec -> handshake" in run.stdout and "RSS after Init" in run.stdout and "goal" in run.stdout
    result = json.loads(out.read_text())
    assert result["stand_in"] == 50 and len(result["handshake_ms"]) == 2
    assert all(kib > 0 for kib in result["rss_init_kib"] + result["rss_update_kib"])
