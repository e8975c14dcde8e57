"""The throughput-driven window (concurrency.py) on a simulated cloud: a discrete-event
model with its own clock (no threads, no wall clock). The cloud has ``servers`` API
workers taking ``service`` seconds a call; calls beyond them queue (FIFO), as the
devcloud's nova-api with 2 workers does; ``thrash`` makes every call slower by that
fraction per call in flight beyond the workers (an overloaded cloud loses throughput).
Times asserted are the simulation's, never the machine's."""

from __future__ import annotations

import heapq
import random

import pytest

from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.concurrency import GAIN, AdaptiveLimit, is_congestion


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class QueueingCloud:
    """``servers`` workers, FIFO queue; ``reject_above``: answer 429 when more than that many are in flight."""

    def __init__(self, servers: int, service: float = 1.0, thrash: float = 0.0, reject_above: int | None = None):
        self.servers, self.service, self.thrash, self.reject_above = servers, service, thrash, reject_above
        self.jitter = random.Random(servers * 1000 + int(service * 100))  # service times vary +-20 %, reproducibly
        self.free = [0.0] * servers  # when each worker is free
        self.in_flight = 0
        self.rejected = 0

    def submit(self, now: float) -> tuple[float, bool]:
        """(when the answer comes, whether it is a 429)."""
        self.in_flight += 1
        if self.reject_above is not None and self.in_flight > self.reject_above:
            self.rejected += 1
            return now + 0.05, True
        start = max(now, heapq.heappop(self.free))
        took = self.service * self.jitter.uniform(0.8, 1.2) * (1 + self.thrash * max(0, self.in_flight - self.servers))
        heapq.heappush(self.free, start + took)
        return start + took, False


def run(limit: AdaptiveLimit, cloud: QueueingCloud, clock: Clock, calls: int) -> float:
    """``calls`` calls through ``limit`` as fast as it lets them (a 429 is retried at once); the
    simulated time they took."""
    start, pending, done, events, seq = clock.now, calls, 0, [], 0
    while done < calls:
        while pending and limit.try_enter():
            pending -= 1
            at, busy = cloud.submit(clock.now)
            heapq.heappush(events, (at, seq, busy, clock.now))
            seq += 1
        at, _, busy, sent = heapq.heappop(events)
        clock.now = at
        cloud.in_flight -= 1
        limit.record_answer(at - sent, congested=busy, neutral=False)
        if busy:
            pending += 1
        else:
            done += 1
    return clock.now - start


def fixed(size: int, cloud: QueueingCloud, calls: int) -> float:
    clock = Clock()
    return run(AdaptiveLimit("create", size, adaptive=False, clock=clock), cloud, clock, calls)


def adaptive(cloud: QueueingCloud, calls: int, maximum: int = 10, initial: int = 5) -> tuple[float, AdaptiveLimit]:
    clock = Clock()
    limit = AdaptiveLimit("create", maximum, initial=initial, clock=clock)
    return run(limit, cloud, clock, calls), limit


@pytest.mark.parametrize("servers", [1, 2, 4, 10])
@pytest.mark.parametrize("calls", [20, 50])
def test_within_115_percent_of_the_best_fixed_window_on_a_queueing_cloud(servers, calls):
    best = min(fixed(size, QueueingCloud(servers), calls) for size in range(1, 9))
    took, _ = adaptive(QueueingCloud(servers), calls)
    assert took <= 1.15 * best, (took, best)
    assert took <= fixed(5, QueueingCloud(servers), calls) * 1.0001  # never slower than the old fixed 5


def test_a_queueing_cloud_does_not_pull_the_window_to_its_maximum():
    """Latency grows with every call queued, throughput does not: the window stays near the workers."""
    took, limit = adaptive(QueueingCloud(2), 200, maximum=20)
    assert took == pytest.approx(100.0, rel=0.05)  # 2 workers, 1 s a call: 200 calls take 100 s
    assert 2 <= limit.limit <= 6 and not limit.slow_start
    assert limit.best_size(200.0) is not None and limit.best_size(200.0) <= 5


def test_grows_while_throughput_grows():
    """From 2 to 16 by doubling: each doubling completes about twice as many per second."""
    took, limit = adaptive(QueueingCloud(16), 200, maximum=16, initial=2)
    assert limit.limit == 16 and limit.peak == 16 and sorted(limit.rates) == [2, 4, 8, 16]
    assert took <= 1.15 * fixed(16, QueueingCloud(16), 200) + 5  # + the slow start's rounds


def test_a_cloud_losing_throughput_beyond_its_capacity_pulls_the_window_back():
    """Beyond 6 in flight every call is 30 % slower per extra call: a larger window completes
    fewer per second, and the window goes back to where it completed most."""
    took, limit = adaptive(QueueingCloud(6, thrash=0.3), 200, maximum=20)
    assert 5 <= limit.limit <= 7 and not limit.slow_start
    assert limit.rates[10][0] < limit.rates[5][0]  # it tried 10, and 10 was worse
    best = min(fixed(size, QueueingCloud(6, thrash=0.3), 200) for size in range(1, 9))
    assert took <= 1.25 * best, (took, best)  # the slow start's one epoch at 10 costs here


def test_a_window_that_starts_above_what_the_cloud_takes_comes_down_by_two_thirds():
    """3 workers, every call 30 % slower per extra call in flight: starting at 10 (what deletes
    started at before), twice that is worse, so the window measures 2/3 of its best size (and
    again at each failed probe upwards while nothing below was measured) and ends near 3."""
    took, limit = adaptive(QueueingCloud(3, thrash=0.3), 200, maximum=20, initial=10)
    assert 6 in limit.rates and 4 in limit.rates  # 10 -> 6 -> 4: two thirds, one step per failed probe
    assert limit.limit <= 6 and (limit.best_size(took) or 0) <= 5
    assert took < 0.8 * fixed(10, QueueingCloud(3, thrash=0.3), 200)
    best = min(fixed(size, QueueingCloud(3, thrash=0.3), 200) for size in range(1, 9))
    assert took <= 2.5 * best  # the slow start's epoch at 20 and the walk down cost here


def test_an_epoch_that_drains_a_larger_window_is_not_counted():
    """After a shrink the calls made at the larger size answer at its rate: crediting them to the
    smaller size would make it look as good as the larger one."""
    clock = Clock()
    limit = AdaptiveLimit("delete", 20, initial=20, clock=clock)
    limit.slow_start = False
    for _ in range(20):
        assert limit.try_enter()
    limit.record_answer(0.0, congested=True, neutral=False)  # a 5xx: halved to 10, 19 still in flight
    assert limit.limit == 10
    for _ in range(10):  # answers of calls made at 20
        clock.now += 0.05
        limit.record_answer(0.05, congested=False, neutral=False)
    assert limit.rates == {} and limit.in_flight == 9
    assert limit.try_enter() and not limit.try_enter()  # drained: from here the window measures itself
    for _ in range(10):  # kept full: each answer makes room for one more call
        clock.now += 0.1
        limit.record_answer(0.1, congested=False, neutral=False)
        assert limit.try_enter()
    assert list(limit.rates) == [10]


def test_never_below_the_best_recent_size_for_want_of_throughput():
    clock = Clock()
    limit = AdaptiveLimit("create", 10, initial=4, clock=clock)
    limit.rates = {4: (4.0, 0.0), 5: (4.1, 0.0), 6: (6.0, 0.0)}  # 5 is no better than 4; 6 is
    assert limit.best_size(1.0) == 6
    limit.rates[7] = (6.2, 0.0)
    assert limit.best_size(1.0) == 6  # within GAIN: the smaller size
    assert limit.best_size(10_000.0) is None  # measurements age out
    assert GAIN == 0.10


def test_a_429_shrinks_at_once_but_not_below_the_best_recent_size():
    clock = Clock()
    limit = AdaptiveLimit("create", 16, initial=12, clock=clock)
    limit.slow_start = False
    limit.rates = {8: (8.0, 0.0)}
    limit.in_flight = 1
    limit.record_answer(0.0, congested=True, neutral=False)
    assert limit.limit == 8  # half of 12 is 6, but 8 gave the best recent throughput
    limit.in_flight = 1
    limit.record_answer(0.0, congested=True, neutral=False)
    assert limit.limit == 8  # the same burst: one signal
    for _ in range(8):
        limit.in_flight = 1
        limit.record_answer(0.0, congested=False, neutral=True)
    limit.in_flight = 1
    limit.record_answer(0.0, congested=True, neutral=False)
    assert limit.limit == 4 and 8 not in limit.rates  # at the best size itself: stale, halved


def test_a_cloud_that_answers_429_above_its_capacity_loses_no_call():
    cloud = QueueingCloud(3, reject_above=3)
    took, limit = adaptive(cloud, 60, maximum=20)
    assert cloud.rejected > 0 and limit.limit <= 6 and not limit.slow_start
    assert took <= 1.15 * fixed(3, QueueingCloud(3), 60)


def test_the_tail_of_an_increase_measures_demand_not_the_cloud():
    """Fewer calls than the window: the epoch is not full and nothing is learnt from it."""
    took, limit = adaptive(QueueingCloud(10), 3)
    assert limit.rates == {} and limit.limit == 5 and took <= 1.2


def test_bounds_neutral_answers_and_a_fixed_window():
    limit = AdaptiveLimit("delete", 3)
    assert limit.limit == 2
    for _ in range(20):
        limit.in_flight = 1
        limit.record_answer(0.0, congested=True, neutral=False)
        for _ in range(limit.limit):  # a window of neutral answers: the next signal is a new burst
            limit.in_flight += 1
            limit.record_answer(0.0, congested=False, neutral=True)
    assert limit.limit == 1  # never below one
    assert limit.rates == {}  # neutral answers are no completions
    assert AdaptiveLimit("create", 30, initial=50).limit == 30  # never above the configured bound
    still = AdaptiveLimit("create", 5, adaptive=False)
    still.in_flight = 1
    still.record_answer(0.0, congested=True, neutral=False)
    assert still.limit == 5
    assert is_congestion(CloudError("x", 429)) and is_congestion(CloudError("x", 503))
    assert is_congestion(ConnectionResetError()) and not is_congestion(CloudError("quota", 403))
