"""How many creates (or deletes) the plugin has in flight: bounded, and as many as
the cloud completes fastest.

:class:`AdaptiveLimit` is a window in front of one kind of Nova call, shared by
every Increase (or Decrease) of the process. **Throughput decides it, not
latency**: on a cloud whose API queues (the devcloud's nova-api has 2 workers),
more calls in flight raise latency without raising throughput, and latency alone
cannot tell queueing from overload. So:

* never more than ``maximum`` calls in flight (``create_concurrency`` /
  ``delete_concurrency`` in plugin_config) and never fewer than 1;
* calls completed per second are **measured per window size**, over one
  *epoch*: as many answers as the window is wide (at least :data:`MIN_EPOCH`),
  from the window's change. An epoch in which the window was not kept full (the
  callers had less to do than the window allows: the tail of an Increase)
  measures demand, not the cloud, and the first epoch after an idle spell
  measures the pipeline filling: both are dropped;
* the window starts at ``initial`` (the provider uses 5, the old fixed pool of
  creates, so it is never slower than that) and **grows while throughput
  grows**: doubling while each doubling completes at least :data:`GAIN` more per
  second (slow start), then by one;
* when a larger window does not complete :data:`GAIN` more per second than
  every recent smaller size (a size's rate is the mean of its last
  :data:`SAMPLES` epochs), the window goes back to the **best recent size**: the
  smallest size no larger size beat by :data:`GAIN` among the measurements of
  the last :data:`RECENT` seconds; it is never shrunk below that size for want
  of throughput. When nothing below the best size was measured recently, it
  then measures **two thirds of it** once (a cloud that loses throughput beyond
  a few calls in flight: the devcloud's deletes) and the best size is worked
  out again with it. After :data:`HOLD_EPOCHS` epochs at the best size it
  probes one larger (the cloud may have more room now);
* an epoch right after the window shrank, while more calls are in flight than
  the new window (they drain at the larger size's rate), is not counted;
* a 429, a 5xx or no answer at all shrinks it at once (at most once per window
  of answers, so one burst of failures counts as one signal): to half, but not
  below the best recent size, unless the failure came at or below that size
  (then the sizes from there up are forgotten, and it halves).

A 429 also means Nova did nothing, so that call is retried after its
``Retry-After`` (at most 3 times, at most 10 s each). Answers that say nothing
about load (4xx other than 429: quota, bad request, not found) are neither
counted as completions nor as failures. The window only gates calls; what a
failed call means for the caller is the caller's business.

Assumptions, named: a cloud's throughput at a window size is steady over an
epoch (about one round of calls); measurements older than :data:`RECENT`
seconds no longer describe it. Below its best size the window looks only at
two thirds of it, and only when nothing smaller was measured recently: the
search downwards is one step per failed probe upwards. The unit tests drive this class on a simulated
queueing cloud (tests/unit/provider/test_concurrency.py) and on the project's
Nova stand-in (tests/unit/provider/test_scale_standin.py); ``bench/scale.py
--sweep`` compares it with fixed windows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("fleeting_openstack.concurrency")

T = TypeVar("T")

#: A larger window counts as better only when it completes this much more per second.
GAIN = 0.10
#: Seconds a throughput measurement stays "recent".
RECENT = 300.0
#: Epochs at the settled size before the window probes one larger.
HOLD_EPOCHS = 3
#: The fewest answers an epoch measures.
MIN_EPOCH = 2
#: An epoch measures the cloud only when the window was this full on average.
FULL = 0.75
#: A size's rate is the mean of its last this many epochs (one epoch is a few answers: noisy).
SAMPLES = 3


def is_congestion(exc: BaseException) -> bool:
    """True for failures that say "the cloud is overloaded": 429, 5xx, no answer."""
    status = getattr(exc, "status", None)
    if status is None:
        return True  # connection reset, timeout: no answer at all
    return bool(status == 429 or status >= 500)


class AdaptiveLimit:
    """A throughput-driven concurrency window; use :meth:`call` around each cloud call.

    ``clock``: monotonic seconds (a test hands in a simulated one)."""

    def __init__(
        self,
        name: str,
        maximum: int,
        *,
        initial: int = 2,
        adaptive: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.maximum = max(1, int(maximum))
        self.adaptive = adaptive
        self.window = float(max(1, min(self.maximum, initial)) if adaptive else self.maximum)
        self.slow_start = adaptive
        self.in_flight = 0
        self.peak = 0
        self.clock = clock
        self._cond = threading.Condition()
        self._since_decrease = 1 << 30  # answers since the last decrease
        #: size -> (completions per second: the mean of its last :data:`SAMPLES` epochs, when last measured)
        self.rates: dict[int, tuple[float, float]] = {}
        self._samples: dict[int, list[float]] = {}
        self._grew_from: int | None = None  # the size the window grew from, while probing a larger one
        self._probing_down = False  # measuring two thirds of the best size
        self._held = 0  # epochs measured at the settled size
        self._epoch_start: float | None = None
        self._epoch_done = 0
        self._busy = 0.0  # integral of in_flight over the epoch's time
        self._busy_at: float | None = None
        self._cold = False  # the epoch started from idle: it measures the pipeline filling

    @property
    def limit(self) -> int:
        return max(1, int(self.window))

    def call(self, fn: Callable[[], T], *, retries_on_429: int = 3) -> T:
        """Run ``fn`` when the window has room; adapt the window to how it went.

        A 429 ("too many requests": nothing was done) is retried up to
        ``retries_on_429`` times after its Retry-After (at most 10 s).
        """
        for attempt in range(retries_on_429 + 1):
            try:
                return self._call_once(fn)
            except Exception as exc:
                if getattr(exc, "status", None) != 429 or attempt == retries_on_429:
                    raise
                time.sleep(min(10.0, getattr(exc, "retry_after", None) or 1.0))
        raise AssertionError("unreachable")

    def _call_once(self, fn: Callable[[], T]) -> T:
        with self._cond:
            while self.in_flight >= self.limit:
                self._cond.wait()
            self._enter()
        started = time.monotonic()
        try:
            result = fn()
        except BaseException as exc:
            self.record_answer(time.monotonic() - started, congested=is_congestion(exc), neutral=not is_congestion(exc))
            raise
        self.record_answer(time.monotonic() - started, congested=False, neutral=False)
        return result

    def try_enter(self) -> bool:
        """Take a slot if the window has room (without waiting): for a caller that drives
        the window itself, as the simulated cloud of the unit tests does."""
        with self._cond:
            if self.in_flight >= self.limit:
                return False
            self._enter()
            return True

    def _enter(self) -> None:
        now = self.clock()
        self._account(now)
        if self._epoch_start is None:
            self._epoch_start, self._busy, self._cold = now, 0.0, True
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def _account(self, now: float) -> None:
        """Add the time since the last change of in_flight, weighted by in_flight, to the epoch."""
        if self._busy_at is not None and self._epoch_start is not None:
            self._busy += self.in_flight * (now - max(self._busy_at, self._epoch_start))
        self._busy_at = now

    def record_answer(self, latency: float, *, congested: bool, neutral: bool) -> None:
        """An answer came (``latency`` seconds after its call: logged only)."""
        with self._cond:
            now = self.clock()
            self._account(now)
            self.in_flight -= 1
            self._since_decrease += 1
            if self.adaptive and congested:
                self._decrease(now, "HTTP 429/5xx or no answer")
            elif self.adaptive and not neutral:
                self._epoch_done += 1
                if self._epoch_done >= max(self.limit, MIN_EPOCH):
                    self._end_epoch(now)
            if self.in_flight == 0 and self._epoch_start is not None and self._epoch_done == 0:
                self._epoch_start = None  # idle before anything completed: start at the next call
            self._cond.notify_all()

    # -- the decisions -------------------------------------------------------------------
    def _new_epoch(self, now: float | None) -> None:
        self._epoch_start = now if self.in_flight else None
        # more in flight than the window (it just shrank): the answers come at the larger size's
        # rate until the calls drain, so the epoch would credit the smaller size with it
        self._cold = self.in_flight > self.limit
        self._epoch_done = 0
        self._busy = 0.0
        self._busy_at = now

    def _set(self, size: int, now: float, why: str) -> None:
        before = self.limit
        self.window = float(max(1, min(self.maximum, size)))
        self._new_epoch(now)
        if self.limit != before:
            log.info(
                "%s concurrency %s",
                self.name,
                "raised" if self.limit > before else "lowered",
                extra={"from": before, "to": self.limit, "reason": why},
            )

    def _end_epoch(self, now: float) -> None:
        start = self._epoch_start
        elapsed = now - start if start is not None else 0.0
        size = self.limit
        full = elapsed > 0 and self._busy / elapsed >= FULL * size
        if not full or self._cold:  # demand (the window was not kept full) or the pipeline filling
            self._new_epoch(now)
            return
        samples = [*self._samples.get(size, [])[-(SAMPLES - 1) :], self._epoch_done / elapsed]
        self._samples[size] = samples
        rate = sum(samples) / len(samples)
        self.rates[size] = (rate, now)
        grew_from = self._grew_from
        if grew_from is not None or self.slow_start:
            # better than every recent smaller size, not only the one it grew from: on a
            # plateau, noise alone would otherwise walk the window up one size at a time
            below = [r for s, (r, when) in self.rates.items() if s < size and now - when <= RECENT]
            if not below or rate > max(below) * (1 + GAIN):
                if size >= self.maximum:
                    self._grew_from, self._held = None, 0
                    self._new_epoch(now)
                    return
                self._grew_from = size
                grown = size * 2 if self.slow_start else size + 1
                self._set(grown, now, f"{rate:.2f}/s completed at {size}, more than at the size before")
                return
            self.slow_start = False
            self._grew_from, self._held = None, 0
            best = self.best_size(now) or size
            if best > 1 and not any(s < best and now - when <= RECENT for s, (_, when) in self.rates.items()):
                # nothing measured below the best size: do two thirds of it complete as many? (a
                # cloud that loses throughput beyond a few calls in flight: the devcloud's deletes)
                self._probing_down = True
                self._set(best * 2 // 3, now, f"{rate:.2f}/s completed at {size}, not more: probing 2/3 of {best}")
                return
            self._set(best, now, f"{rate:.2f}/s completed at {size}: not more than at {grew_from}")
            return
        if self._probing_down:
            # two thirds measured: the best size now (the smaller one when it completed within GAIN as many)
            self._probing_down = False
            best = self.best_size(now) or size
            self._set(best, now, f"{rate:.2f}/s completed at {size} (2/3 of the best size)")
            return
        self._held += 1
        if self._held >= HOLD_EPOCHS and size < self.maximum:
            self._held = 0
            self._grew_from = size
            self._set(size + 1, now, "probing one larger")
            return
        self._new_epoch(now)

    def best_size(self, now: float | None = None) -> int | None:
        """The smallest recent size no larger recent size beat by :data:`GAIN` (None: none measured)."""
        now = self.clock() if now is None else now
        recent = sorted((s, r) for s, (r, when) in self.rates.items() if now - when <= RECENT)
        if not recent:
            return None
        best, best_rate = recent[0]
        for size, rate in recent[1:]:
            if rate > best_rate * (1 + GAIN):
                best, best_rate = size, rate
        return best

    def _decrease(self, now: float, why: str) -> None:
        if self._since_decrease < self.limit:  # same burst: already reacted
            return
        size = self.limit
        self.slow_start = False
        self._grew_from, self._held, self._probing_down = None, 0, False
        self._since_decrease = 0
        best = self.best_size(now)
        if best is not None and best < size:
            target = max(best, size // 2)
        else:  # the failure came at (or below) the best size: what was measured there is stale
            self.rates = {s: m for s, m in self.rates.items() if s < size}
            self._samples = {s: m for s, m in self._samples.items() if s < size}
            target = size // 2
        self._set(target, now, why)
