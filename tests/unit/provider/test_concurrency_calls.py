"""AdaptiveLimit.call (provider/concurrency.py) around real calls on threads: the window gates
how many run at once, a 429 is tried again after its Retry-After, and what a failed call says
about load moves the window (test_concurrency.py drives the window with synthetic answers)."""

from __future__ import annotations

import threading
import time

import pytest

from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.concurrency import AdaptiveLimit


def busy(retry_after: float = 0.01) -> CloudError:
    exc = CloudError("HTTP 429: too many requests", 429)
    exc.retry_after = retry_after
    return exc


def test_never_more_calls_in_flight_than_the_window():
    limit = AdaptiveLimit("create", 2, adaptive=False)
    running, seen = [0], []
    lock = threading.Lock()

    def call() -> None:
        with lock:
            running[0] += 1
            seen.append(running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    threads = [threading.Thread(target=limit.call, args=(call,), daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2)
    assert not any(t.is_alive() for t in threads), "calls left waiting for a slot"
    assert max(seen) == 2 and limit.peak == 2 and limit.in_flight == 0


def test_a_429_is_tried_again_after_its_retry_after():
    attempts: list[float] = []

    def call() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise busy(0.03)
        return "made"

    assert AdaptiveLimit("create", 4).call(call) == "made"
    assert len(attempts) == 3 and attempts[1] - attempts[0] >= 0.03


def test_a_429_that_keeps_coming_is_raised_after_the_retries():
    attempts: list[int] = []

    def call() -> None:
        attempts.append(1)
        raise busy()

    limit = AdaptiveLimit("create", 4)
    with pytest.raises(CloudError, match="429"):
        limit.call(call, retries_on_429=2)
    assert len(attempts) == 3 and limit.in_flight == 0


def test_only_failures_that_speak_of_load_shrink_the_window():
    limit = AdaptiveLimit("delete", 16, initial=8)

    def fail(exc: Exception):
        def call() -> None:
            raise exc

        return call

    with pytest.raises(CloudError, match="quota"):
        limit.call(fail(CloudError("quota exceeded", 403)))
    with pytest.raises(CloudError, match="not found"):
        limit.call(fail(CloudError("not found", 404)))
    assert limit.limit == 8  # a refusal says nothing about load
    with pytest.raises(CloudError, match="503"):
        limit.call(fail(CloudError("HTTP 503", 503)))
    assert limit.limit == 4 and not limit.slow_start
    assert limit.in_flight == 0  # every failed call gave its slot back


def test_no_answer_at_all_is_congestion():
    limit = AdaptiveLimit("create", 16, initial=8)

    def reset() -> None:
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(ConnectionResetError):
        limit.call(reset)
    assert limit.limit == 4
