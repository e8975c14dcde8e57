"""The project's Nova stand-in (bench/novastub.py, in this process) views the plugin's
create concurrency: it uses what the cloud accepts, backs off on 429 and on answers that
slow down, and loses no create. Asserts request counts and concurrency, never
wall-clock times (the bench itself: tests/devcloud/test_scale_bench.py)."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from fleeting_openstack.contract.instancegroup import Settings
from project import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import novastub  # noqa: E402
import scale  # noqa: E402


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
    assert provider.create_limit.limit < 20 and not provider.create_limit.slow_start
    assert len(provider.update()) == 30


def test_creates_back_off_when_answers_slow_down(stand_in, tmp_path):
    """A cloud that queues (2 slots): answers slow down as the window grows past 2, creates per
    second do not; the window goes back to where throughput was best (issue 21)."""
    provider = provider_for(tmp_path, create_concurrency=20)
    provider.update()
    stand_in.gate.capacity = 2
    stand_in.config["create_time"] = 0.3
    stand_in.reset()
    assert provider.increase(60) == 60
    assert stand_in.stats["requests"]["create"] == 60
    limit = provider.create_limit
    assert not limit.slow_start and limit.limit < 20
    assert 10 in limit.rates  # it tried twice the initial 5 ...
    best = limit.best_size()
    assert best is not None and best < 10 and limit.limit >= best  # ... and came back: never below the best


def test_deletes_find_the_queueing_clouds_throughput_too(stand_in, tmp_path):
    provider = provider_for(tmp_path, delete_concurrency=20)
    provider.update()
    stand_in.config["create_time"] = 0.0
    assert provider.increase(60) == 60
    ids = [sid for sid, _ in provider.update()]
    stand_in.gate.capacity = 2
    stand_in.config["delete_time"] = 0.1
    stand_in.reset()
    assert sorted(provider.decrease(ids)) == sorted(ids)
    assert stand_in.stats["requests"]["delete"] == 60
    limit = provider.delete_limit
    # twice its start (10) was tried and was no better; two thirds of the start (3) was measured
    assert not limit.slow_start and limit.limit <= 5 and 10 in limit.rates and 3 in limit.rates
    assert limit.limit >= (limit.best_size() or 1)
