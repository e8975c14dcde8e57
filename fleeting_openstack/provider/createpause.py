"""The create pause: creates that stop hammering a cloud that says no.

:class:`CreateBreaker`: after :data:`FAILURES_TO_PAUSE` consecutive failed
creates (quota, no valid host, 5xx, no answer) creates are refused at once
for a pause that doubles from :data:`FIRST_PAUSE` up to ``create_backoff``;
the first create after a pause probes the cloud. Logged once per episode
(warn when it starts, info when a create succeeds again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

#: The logger these lines were written to before the module was split: its name is operator-visible.
log = logging.getLogger("fleeting_openstack.limiter")

FAILURES_TO_PAUSE = 3
FIRST_PAUSE = 10.0


class CreatesPaused(RuntimeError):
    """Creates are refused for now; the message says why and for how long."""


class CreateBreaker:
    def __init__(self, max_pause: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_pause = max_pause
        self.clock = clock
        self.failures = 0
        self.pauses = 0  # pauses in the current episode
        self.until = 0.0
        self.reason = ""
        self.episodes = 0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise :class:`CreatesPaused` while a pause lasts."""
        with self._lock:
            left = self.until - self.clock()
            if left > 0:
                raise CreatesPaused(
                    f"creates paused for another {left:.0f}s after {self.failures} consecutive "
                    f"failures (last: {self.reason}); see create_backoff"
                )

    def failed(self, reason: str) -> None:
        if self.max_pause <= 0:
            return
        with self._lock:
            self.failures += 1
            self.reason = reason
            if self.failures < FAILURES_TO_PAUSE or self.until > self.clock():
                return
            pause = min(self.max_pause, FIRST_PAUSE * (2**self.pauses))
            self.until = self.clock() + pause
            if self.pauses == 0:
                self.episodes += 1
                log.warning(
                    "creates paused after repeated failures: %s",
                    reason,
                    extra={"failures": self.failures, "pause": pause},
                )
            self.pauses += 1

    def succeeded(self) -> None:
        with self._lock:
            if self.pauses:
                log.info("creates succeed again; pause lifted", extra={"failures": self.failures})
            self.failures = self.pauses = 0
            self.until = 0.0
