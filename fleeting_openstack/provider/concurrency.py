"""How many creates (or deletes) the plugin has in flight: bounded and adaptive.

:class:`AdaptiveLimit` is an AIMD window in front of one kind of Nova call,
shared by every Increase (or Decrease) of the process:

* never more than ``maximum`` calls in flight (``create_concurrency`` /
  ``delete_concurrency`` in plugin_config) and never fewer than 1;
* slow start: the window starts at ``initial`` (the provider uses the old
  fixed values: 5 creates, 10 deletes, so it is never slower than before) and doubles after
  each window of clean answers until the first sign of congestion, then grows
  by one per window of clean answers (additive increase) while the cloud keeps up;
* a 429, a 5xx, a connection error or an answer much slower than the best
  recently seen halves the window (multiplicative decrease), at most once per
  window of answers, so one burst of failures counts as one signal.

A 429 also means Nova did nothing, so that call is retried after its
``Retry-After`` (at most 3 times, at most 10 s each). Answers that say nothing
about load (4xx other than 429: quota, bad request, not found) neither grow nor
shrink the window. The window only gates calls;
what a failed call means for the caller is the caller's business.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("fleeting_openstack.concurrency")

T = TypeVar("T")

#: An answer slower than this many times the best recent latency is congestion ...
SLOW_FACTOR = 3.0
#: ... if it is also this many seconds slower (jitter on fast calls is no signal).
SLOW_MARGIN = 1.0


def is_congestion(exc: BaseException) -> bool:
    """True for failures that say "the cloud is overloaded": 429, 5xx, no answer."""
    status = getattr(exc, "status", None)
    if status is None:
        return True  # connection reset, timeout: no answer at all
    return bool(status == 429 or status >= 500)


class AdaptiveLimit:
    """An AIMD concurrency window; use :meth:`call` around each cloud call."""

    def __init__(self, name: str, maximum: int, *, initial: int = 2, adaptive: bool = True) -> None:
        self.name = name
        self.maximum = max(1, int(maximum))
        self.adaptive = adaptive
        self.window = float(max(1, min(self.maximum, initial)) if adaptive else self.maximum)
        self.slow_start = adaptive
        self.in_flight = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._latencies: collections.deque[float] = collections.deque(maxlen=20)
        self._clean = 0  # clean answers since the last change of the window
        self._since_decrease = 1 << 30  # answers since the last decrease

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
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        started = time.monotonic()
        try:
            result = fn()
        except BaseException as exc:
            self.record_answer(time.monotonic() - started, congested=is_congestion(exc), neutral=not is_congestion(exc))
            raise
        self.record_answer(time.monotonic() - started, congested=False, neutral=False)
        return result

    def record_answer(self, latency: float, *, congested: bool, neutral: bool) -> None:
        with self._cond:
            self.in_flight -= 1
            self._since_decrease += 1
            if self.adaptive and not neutral:
                best = min(self._latencies) if self._latencies else None
                slow = best is not None and latency > best * SLOW_FACTOR and latency > best + SLOW_MARGIN
                self._latencies.append(latency)
                if congested or slow:
                    self._decrease(
                        "HTTP 429/5xx or no answer"
                        if congested
                        else f"answer took {latency:.1f}s (best recent {best:.1f}s)"
                    )
                else:
                    self._clean += 1
                    if self._clean >= self.limit:
                        self._clean = 0
                        grown = self.window * 2 if self.slow_start else self.window + 1
                        self.window = min(float(self.maximum), grown)
            self._cond.notify_all()

    def _decrease(self, why: str) -> None:
        if self._since_decrease < self.limit:  # same burst: already reacted
            return
        before = self.limit
        self.slow_start = False
        self.window = max(1.0, self.window / 2)
        self._since_decrease = 0
        self._clean = 0
        if self.limit != before:
            log.info("%s concurrency lowered", self.name, extra={"from": before, "to": self.limit, "reason": why})
