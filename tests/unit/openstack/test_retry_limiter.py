"""Retry policy, ids in URLs and log redaction: the decisions themselves, with synthetic
answers (the devcloud side is in the fault suite). The create pause, the fallbacks and the
quota pre-check are the provider's: tests/unit/provider/test_{createpause,fallbacks,increasecap}.py."""

from __future__ import annotations

import pytest

from fleeting_openstack.openstack.client import CloudError, NotFound, checked_id, InvalidId
from fleeting_openstack.openstack.redact import redact
from fleeting_openstack.openstack.retry import RetryPolicy, parse_retry_after


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
