"""Retry policy, create breaker, fallback choices and quota headroom: the
decisions themselves, with synthetic answers (the devcloud side is in the
fault suite)."""

from __future__ import annotations

import logging

import pytest

from fleeting_openstack.provider.createpause import CreateBreaker, CreatesPaused
from fleeting_openstack.provider.fallbacks import Choices
from fleeting_openstack.provider.increasecap import quota_headroom
from fleeting_openstack.openstack.client import CloudError, NotFound, checked_id, InvalidId
from fleeting_openstack.openstack.redact import redact
from fleeting_openstack.openstack.retry import RetryPolicy, parse_retry_after
from support.fakecloud import FakeCloud


class Clock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def failing(errors):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return "ok"
    return fn, calls


def err(status, retry_after=None):
    e = CloudError(f"HTTP {status}", status)
    e.retry_after = retry_after
    return e


def test_retries_transient_errors_with_backoff_and_honours_retry_after():
    clock = Clock()
    policy = RetryPolicy(budget=30, base=0.5, cap=8, sleep=clock.sleep, clock=clock)
    fn, calls = failing([err(503, 2.0), err(None), err(502), err(429, 1.0)])
    assert policy.run(fn, "GET x") == "ok"
    assert calls["n"] == 5
    assert clock.slept[0] == 2.0 and clock.slept[3] == 1.0  # Retry-After, not the backoff
    assert 0.25 <= clock.slept[1] <= 1.0 and 0.25 <= clock.slept[2] <= 2.0  # jittered exponential


def test_never_retries_answers_that_mean_no():
    policy = RetryPolicy(budget=30, sleep=lambda s: None)
    for error in (err(400), err(403), NotFound("gone", 404), ValueError("bug")):
        fn, calls = failing([error])
        with pytest.raises(type(error)):
            policy.run(fn, "GET x")
        assert calls["n"] == 1


def test_budget_bounds_the_retries_and_says_so():
    clock = Clock()
    policy = RetryPolicy(budget=5, base=1, cap=8, sleep=clock.sleep, clock=clock)
    fn, calls = failing([err(503)] * 100)
    with pytest.raises(CloudError, match="gave up after .* attempts within retry_budget 5s"):
        policy.run(fn, "GET x")
    assert clock.t <= 5 and calls["n"] >= 2
    fn, calls = failing([err(503, 60.0)])  # a Retry-After beyond the budget: fail at once
    with pytest.raises(CloudError):
        policy.run(fn, "GET x")
    assert calls["n"] == 1


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_breaker_pauses_after_three_failures_logs_once_and_doubles(caplog):
    clock = Clock()
    breaker = CreateBreaker(max_pause=300, clock=clock)
    caplog.set_level(logging.INFO, logger="fleeting_openstack.limiter")
    for _ in range(2):
        breaker.failed("quota")
        breaker.check()
    breaker.failed("quota")
    with pytest.raises(CreatesPaused, match="paused for another 10s after 3 consecutive failures"):
        breaker.check()
    clock.t += 10
    breaker.check()  # the probe may go
    breaker.failed("quota")
    with pytest.raises(CreatesPaused, match="another 20s"):
        breaker.check()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per episode
    breaker.succeeded()
    breaker.check()
    assert any("succeed again" in r.getMessage() for r in caplog.records)
    off = CreateBreaker(max_pause=0)
    for _ in range(10):
        off.failed("x")
    off.check()


def test_choices_move_on_and_come_back():
    clock = Clock()
    choices = Choices(["big", "small"], ["az1", "az2"], reset_after=600, clock=clock)
    assert choices.current == ("big", "az1")
    assert choices.advance(("big", "az1"), "Quota exceeded for cores")
    assert choices.current == ("small", "az1")
    assert choices.advance(("big", "az1"), "stale") and choices.current == ("small", "az1")  # already moved
    assert choices.advance(("small", "az1"), "The requested availability zone is not available")
    assert choices.current == ("big", "az2")
    assert choices.advance(("big", "az2"), "No valid host") and choices.current == ("small", "az2")
    assert not choices.advance(("small", "az2"), "No valid host")
    clock.t += 601
    assert choices.current == ("big", "az1")


def test_quota_headroom_takes_the_tightest_limit():
    cloud = FakeCloud()
    cloud.limits = {"maxTotalInstances": 50, "totalInstancesUsed": 10, "maxTotalCores": 20,
                    "totalCoresUsed": 12, "maxTotalRAMSize": -1, "totalRAMUsed": 0}
    cloud.flavor_sizes = {"f": {"vcpus": 2, "ram": 512}}
    cloud.network_quotas = {"port": {"limit": 100, "used": 97, "reserved": 0},
                            "floatingip": {"limit": 10, "used": 9, "reserved": 0}}
    assert quota_headroom(cloud, "f", ports_per_server=0, floating_ips=False) == (
        4, "Nova quota cores: 12 of 20 used, 2 per server")
    assert quota_headroom(cloud, "f", ports_per_server=1, floating_ips=False)[0] == 3
    assert quota_headroom(cloud, "f", ports_per_server=1, floating_ips=True) == (
        1, "Neutron quota floating IPs: 9 of 10 used, 1 per server")


def test_ids_checked_before_urls():
    assert checked_id("0c9e5f2a-5d0e-4a57-9a43-0f1e2d3c4b5a") == "0c9e5f2a-5d0e-4a57-9a43-0f1e2d3c4b5a"
    for bad in ("../flavors/1", "a/b", "x?y=1", "", "a#b", "a b"):
        with pytest.raises(InvalidId, match="not a valid OpenStack id"):
            checked_id(bad)


def test_library_log_redaction():
    line = ('REQ: curl -X POST http://n/servers -H "X-Auth-Token: gAAAAABsecret" -d \'{"server": {"user_data": '
            '"I2Nsb3Vk", "adminPass": "p\\"w", "name": "x"}}\'')
    out = redact(line)
    assert "I2Nsb3Vk" not in out and 'p\\"w' not in out and "gAAAAABsecret" not in out and '"name": "x"' in out
    assert redact("{'password': 'hunter2', 'username': 'demo'}") == "{'password': '***', 'username': 'demo'}"
    assert "{SHA256}abc" in redact('-H "X-Auth-Token: {SHA256}abc"')
