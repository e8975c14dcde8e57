"""Creates that stop hammering a cloud that says no.

* :class:`CreateBreaker`: after :data:`FAILURES_TO_PAUSE` consecutive failed
  creates (quota, no valid host, 5xx, no answer) creates are refused at once
  for a pause that doubles from :data:`FIRST_PAUSE` up to ``create_backoff``;
  the first create after a pause probes the cloud. Logged once per episode
  (warn when it starts, info when a create succeeds again).
* :func:`quota_headroom`: how many more servers of a flavor fit in the
  project's Nova limits (instances, cores, RAM) and, when used, Neutron's
  ports and floating IPs. Increase creates what fits and reports the rest.
* :class:`Choices`: the flavor and availability-zone fallback lists; on a
  capacity or quota error the next choice is used (and logged).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig

log = logging.getLogger("fleeting_openstack.limiter")

FAILURES_TO_PAUSE = 3
FIRST_PAUSE = 10.0

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


class QuotaCloud(Protocol):
    """The adapter's limit and quota reads (Nova ``/limits``, flavor sizes, Neutron quotas)."""

    def compute_limits(self) -> dict[str, int]: ...
    def flavor_size(self, ref: str) -> dict[str, int]: ...
    def network_quota(self) -> dict[str, Any]: ...


def quota_headroom(cloud: QuotaCloud, flavor_ref: str, *, ports_per_server: int, floating_ips: bool) -> tuple[int, str]:
    """(servers that still fit, what limits them); (large, "") when nothing could be read."""
    fits, why = 1 << 30, ""
    try:
        absolute = cloud.compute_limits()
        flavor = cloud.flavor_size(flavor_ref)
    except Exception as exc:  # noqa: BLE001 - the pre-check is advisory
        log.debug("quota pre-check skipped: %s", exc)
        return fits, why

    def room(limit_key: str, used_key: str, per: int, what: str) -> None:
        nonlocal fits, why
        limit, used = absolute.get(limit_key, -1), absolute.get(used_key, 0)
        if limit is None or limit < 0 or per <= 0:
            return
        n = max(0, (limit - used) // per)
        if n < fits:
            fits, why = n, f"Nova quota {what}: {used} of {limit} used, {per} per server"

    room("maxTotalInstances", "totalInstancesUsed", 1, "instances")
    room("maxTotalCores", "totalCoresUsed", flavor.get("vcpus", 0), "cores")
    room("maxTotalRAMSize", "totalRAMUsed", flavor.get("ram", 0), "RAM (MiB)")
    if ports_per_server or floating_ips:
        try:
            net = cloud.network_quota()
        except Exception as exc:  # noqa: BLE001 - the pre-check is advisory: Nova's answer decides
            log.debug("Neutron quota pre-check skipped: %s", exc)
            net = {}
        for key, per, what in (
            ("port", ports_per_server, "ports"),
            ("floatingip", 1 if floating_ips else 0, "floating IPs"),
        ):
            item = net.get(key) or {}
            limit, used = item.get("limit", -1), item.get("used", 0) + item.get("reserved", 0)
            if per and limit is not None and limit >= 0:
                n = max(0, (limit - used) // per)
                if n < fits:
                    fits, why = n, f"Neutron quota {what}: {used} of {limit} used, {per} per server"
    return fits, why


def cap_increase(
    delta: int,
    *,
    cfg: PluginConfig,
    cloud: QuotaCloud,
    blocker: str,
    breaker: CreateBreaker,
    choices: Choices,
    members: Collection[str],
    deleting: Collection[str],
    floating_ips: bool,
) -> tuple[int, str]:
    """Increase's bounds: creates disabled (``blocker``) or paused, ``max_size``, and what the quotas
    still allow (the most any flavor choice allows: a fallback may fit where the first does not). (n, why).

    ``members``: the group's server ids; ``deleting``: those the plugin is deleting (not counted).
    ``cloud``: the adapter's ``compute_limits``/``flavor_size``/``network_quota`` (advisory: any
    failure skips the pre-check)."""
    if blocker:
        return 0, blocker
    try:
        breaker.check()
    except CreatesPaused as exc:
        return 0, str(exc)
    live = len([i for i in members if i not in deleting])
    room = max(0, cfg.max_size - live)
    why = ""
    if room < delta:
        why, delta = f"max_size {cfg.max_size} reached ({live} servers in the group)", room
    if delta:
        ports = sum(1 for n in (cfg.server_spec.body.get("networks") or []) if isinstance(n, dict) and "port" not in n)
        fits, quota_why = max(
            (
                quota_headroom(cloud, flavor, ports_per_server=ports, floating_ips=floating_ips)
                for flavor in dict.fromkeys(choices.flavors)
            ),
            key=lambda t: t[0],
        )
        if fits < delta:
            why, delta = f"quota exceeded (checked before creating): {quota_why}", fits
    if why:
        log.warning("Increase capped: %s", why, extra={"creating": delta})
    return delta, why
