"""Which failed OpenStack calls are retried, how, and for how long.

* **Idempotent calls** (every GET, DELETE, the console read, Init's lookups)
  are retried after a 429, 500, 502, 503, 504 or no answer at all (connection
  refused or reset, timeout), with exponential backoff and full jitter, until
  the call's **budget** (seconds: plugin_config's ``retry_budget``, which the
  caller hands in as :class:`RetryPolicy`'s ``budget``) is spent. A 429 or
  503 carrying ``Retry-After`` waits that long instead (if it fits in the
  budget; otherwise the call fails at once, saying so).
* **Creates** are never retried here: a create whose outcome is unknown is
  reconciled by its ``fleeting-request`` UUID (provider.py), never repeated
  blindly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger("fleeting_openstack.retry")

T = TypeVar("T")

#: HTTP answers after which an idempotent call may be repeated.
RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a total budget (seconds)."""

    budget: float = 30.0
    base: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def delay(self, attempt: int) -> float:
        return random.uniform(self.base / 2, min(self.cap, self.base * (2**attempt)))

    def run(self, fn: Callable[[], T], what: str) -> T:
        """Call ``fn`` until it succeeds, fails for good, or the budget is spent."""
        deadline = self.clock() + self.budget
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                if not retriable(exc):
                    raise
                wait = retry_after(exc)
                wait = self.delay(attempt) if wait is None else wait
                left = deadline - self.clock()
                if wait > left:
                    if attempt:
                        _note(exc, f"(gave up after {attempt + 1} attempts within retry_budget {self.budget:g}s)")
                    raise
                attempt += 1
                log.debug("retrying %s in %.2fs (attempt %d): %s", what, wait, attempt + 1, exc)
                self.sleep(wait)


def retriable(exc: BaseException) -> bool:
    status = getattr(exc, "status", "n/a")
    if status == "n/a":
        return False  # not a CloudError: a programming error, never retried
    return status is None or status in RETRIABLE_STATUS


def retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return None if value is None else max(0.0, float(value))


def _note(exc: BaseException, text: str) -> None:
    if exc.args and isinstance(exc.args[0], str) and text not in exc.args[0]:
        exc.args = (f"{exc.args[0]} {text}", *exc.args[1:])


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
