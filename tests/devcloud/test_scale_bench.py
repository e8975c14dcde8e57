"""The scale bench in CI (small N) and the stand-in's view of the plugin's
concurrency. Asserts request counts and concurrency, never wall-clock times.
The correctness of changes-since is proven on the real devcloud
(tests/test_groupview_devcloud.py); the stand-in is for scale only."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fleeting_openstack.contract.instancegroup import Settings

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import novastub  # noqa: E402
import scale  # noqa: E402


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


@pytest.fixture()
def stand_in(tmp_path):
    server, world = novastub.serve(0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "clouds.yaml").write_text(novastub.clouds_yaml(server.server_address[1]))
    yield world
    server.shutdown()
    server.server_close()


def provider_for(tmp_path, **extra):
    from fleeting_openstack.provider.group import OpenStackProvider

    provider = OpenStackProvider()
    provider.init(json.dumps(scale.plugin_config(tmp_path, **extra)).encode(), Settings())
    return provider


def test_increase_uses_what_the_cloud_accepts(stand_in, tmp_path):
    """10 concurrent creates accepted: Increase(50) reaches 10 in flight (sequential: 1)."""
    provider = provider_for(tmp_path)
    provider.update()
    stand_in.gate.capacity = 10
    stand_in.config["create_time"] = 0.3
    stand_in.reset()
    assert provider.increase(50) == 50
    assert stand_in.stats["requests"]["create"] == 50
    assert stand_in.stats["peak"]["create"] == 10  # the configured create_concurrency, all used


def test_creates_back_off_on_429_and_none_is_lost(stand_in, tmp_path):
    provider = provider_for(tmp_path, create_concurrency=20)
    provider.update()
    stand_in.gate.capacity = 3
    stand_in.config.update(create_time=0.2, overload="429")
    stand_in.reset()
    assert provider.increase(30) == 30  # a 429 did nothing: retried, never counted as failed
    rejected = stand_in.stats["rejected"]
    assert rejected > 0 and stand_in.stats["requests"]["create"] == 30 + rejected
    assert provider._create_limit.limit < 20 and not provider._create_limit.slow_start
    assert len(provider.update()) == 30


def test_creates_back_off_when_answers_slow_down(stand_in, tmp_path):
    """A cloud that queues (2 slots): answers slow down as the window grows past 2."""
    provider = provider_for(tmp_path, create_concurrency=20)
    provider.update()
    stand_in.gate.capacity = 2
    stand_in.config["create_time"] = 0.3
    stand_in.reset()
    assert provider.increase(60) == 60
    assert stand_in.stats["requests"]["create"] == 60
    assert not provider._create_limit.slow_start and provider._create_limit.limit < 20
