"""The AIMD window (concurrency.py), driven with synthetic answers: no clock, no cloud."""

from __future__ import annotations

from fleeting_openstack.provider.concurrency import AdaptiveLimit, is_congestion
from fleeting_openstack.openstack.client import CloudError


def answer(limit: AdaptiveLimit, latency: float = 1.0, congested: bool = False) -> None:
    limit.in_flight += 1
    limit.record_answer(latency, congested=congested, neutral=False)


def test_slow_start_then_halving_then_additive_increase():
    limit = AdaptiveLimit("create", 16)
    assert limit.limit == 2
    for want in (4, 8, 16, 16):
        for _ in range(limit.limit):
            answer(limit)
        assert limit.limit == want
    answer(limit, congested=True)
    assert limit.limit == 8 and not limit.slow_start
    for _ in range(3):  # the same burst: no second halving within one window of answers
        answer(limit, congested=True)
    assert limit.limit == 8
    for _ in range(8):
        answer(limit)
    assert limit.limit == 9  # additive: +1 per window of clean answers


def test_a_much_slower_answer_is_congestion_but_jitter_is_not():
    limit = AdaptiveLimit("create", 16)
    for _ in range(6):
        answer(limit, latency=1.0)
    assert limit.limit == 8
    answer(limit, latency=1.9)  # slower, but within the margin
    assert limit.limit == 8
    answer(limit, latency=4.5)  # > 3x the best and > best + 1 s
    assert limit.limit == 4


def test_bounds_and_neutral_answers():
    limit = AdaptiveLimit("delete", 3)
    for _ in range(20):
        answer(limit)
    assert limit.limit == 3  # never above the configured bound
    for _ in range(20):
        answer(limit, congested=True)
        for _ in range(limit.limit):  # a window of neutral answers: the next signal is a new burst
            limit.in_flight += 1
            limit.record_answer(0.0, congested=False, neutral=True)
    assert limit.limit == 1  # never below one
    assert is_congestion(CloudError("x", 429)) and is_congestion(CloudError("x", 503))
    assert is_congestion(ConnectionResetError()) and not is_congestion(CloudError("quota", 403))


def test_fixed_window_does_not_adapt():
    limit = AdaptiveLimit("create", 5, adaptive=False)
    answer(limit, congested=True)
    assert limit.limit == 5
