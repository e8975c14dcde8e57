"""The flavor and availability-zone fallbacks: on a capacity or quota error the next choice is used.

:func:`is_capacity` says whether a Nova error or fault means "no room" (another
flavor or zone may fit); :class:`Choices` holds the fallback lists and the one in use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

#: The logger these lines were written to before the module was split: its name is operator-visible.
log = logging.getLogger("fleeting_openstack.limiter")

#: Words in a Nova error or fault that mean "no room": another flavor or zone may fit.
CAPACITY_WORDS = (
    "no valid host",
    "quota exceeded",
    "quota",
    "insufficient",
    "not enough",
    "availability zone",
    "capacity",
    "exceeds",
)


def is_capacity(text: str) -> bool:
    low = (text or "").lower()
    return any(word in low for word in CAPACITY_WORDS)


class Choices:
    """Flavor x availability zone, in the configured order; ``current`` is used for creates."""

    def __init__(
        self,
        flavors: Sequence[str],
        zones: Sequence[str | None],
        reset_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flavors = list(flavors)
        self.zones = list(zones) or [None]
        self.flavor_at = 0
        self.zone_at = 0
        self.reset_after = reset_after
        self.clock = clock
        self._moved = 0.0
        self._lock = threading.Lock()

    @property
    def current(self) -> tuple[str, str | None]:
        with self._lock:
            if (
                (self.flavor_at or self.zone_at)
                and self.reset_after > 0
                and self.clock() - self._moved > self.reset_after
            ):
                self.flavor_at = self.zone_at = 0
                log.info(
                    "back to the first flavor and availability zone choice",
                    extra={"flavor": self.flavors[0], "availability_zone": self.zones[0]},
                )
            return self.flavors[self.flavor_at], self.zones[self.zone_at]

    def advance(self, tried: tuple[str, str | None], reason: str) -> bool:
        """Move past ``tried`` after a capacity error; False when no choice is left."""
        with self._lock:
            if (self.flavors[self.flavor_at], self.zones[self.zone_at]) != tried:
                return True  # another create already moved on
            if "availability zone" in reason.lower() or (
                self.zone_at + 1 < len(self.zones)
                and "flavor" not in reason.lower()
                and self.flavor_at + 1 >= len(self.flavors)
            ):
                moved = self._next_zone() or self._next_flavor()
            else:
                moved = self._next_flavor() or self._next_zone()
            if moved:
                self._moved = self.clock()
                log.warning(
                    "create fell back to the next flavor/availability zone choice: %s",
                    reason,
                    extra={"flavor": self.flavors[self.flavor_at], "availability_zone": self.zones[self.zone_at]},
                )
            return moved

    def _next_flavor(self) -> bool:
        if self.flavor_at + 1 < len(self.flavors):
            self.flavor_at += 1
            return True
        return False

    def _next_zone(self) -> bool:
        if self.zone_at + 1 < len(self.zones):
            self.zone_at += 1
            self.flavor_at = 0
            return True
        return False
