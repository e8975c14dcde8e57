"""provider/createpause.py: creates that stop hammering a cloud that says no."""

from __future__ import annotations

import logging

import pytest

from fleeting_openstack.provider.createpause import CreateBreaker, CreatesPaused


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


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


def test_a_failure_during_a_pause_does_not_lengthen_it():
    clock = Clock()
    breaker = CreateBreaker(max_pause=300, clock=clock)
    for _ in range(3):
        breaker.failed("No valid host")
    clock.t += 5
    breaker.failed("No valid host")  # an in-flight create failing while paused
    with pytest.raises(CreatesPaused, match="another 5s"):
        breaker.check()


def test_the_pause_never_exceeds_create_backoff():
    clock = Clock()
    breaker = CreateBreaker(max_pause=15, clock=clock)
    for _ in range(3):
        breaker.failed("x")
    clock.t += 10
    breaker.failed("x")  # the probe failed: 20s would be next, capped at 15
    with pytest.raises(CreatesPaused, match="another 15s"):
        breaker.check()
