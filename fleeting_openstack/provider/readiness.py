"""Looking at an ACTIVE server's boot: the console marker and the probe.

The boot strategy reads the console tail (``readiness`` hook) and says READY,
WAITING or FAILED; after a READY marker the optional probe (``readiness.probe``:
``tcp`` or ``ssh-banner`` on the internal address) must answer too. What was seen
is a :class:`states.Look`; what it means (``boot_time``, ``on_boot_timeout``) is
decided by :func:`states.assess`. Reading the console never fails an Update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.provider.states import Look

if TYPE_CHECKING:
    from fleeting_openstack.config import ReadinessConfig
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.plugin.types import Observation, ReadinessResult

log = logging.getLogger("fleeting_openstack.provider")


class Console(Protocol):
    def console_tail(self, server_id: str, lines: int) -> str: ...


class ReadinessHook(Protocol):
    """The boot strategy's readiness decision (``host.BoundStrategy``)."""

    def readiness(self, observation: Observation) -> ReadinessResult: ...


class Readiness:
    """Looks at servers' boots: ``look(server, now, boot_time)``."""

    def __init__(
        self,
        cloud: Console,
        strategy: ReadinessHook,
        config: ReadinessConfig,
        internal_address: Callable[[Server], str],
    ) -> None:
        self.cloud = cloud
        self.strategy = strategy
        self.config = config
        self.internal_address = internal_address

    def look(self, server: Server, now: float, boot_time: float) -> Look:
        from fleeting_openstack.plugin.types import Observation, ReadinessState

        tail = None
        try:
            tail = self.cloud.console_tail(server.id, self.config.console_lines)
        except Exception as exc:  # noqa: BLE001 - a failing console read never fails Update
            log.debug("console read failed: %s", exc, extra={"server": server.id})
        addresses: dict[str, list[str]] = {}
        for a in server.addresses:
            addresses.setdefault(a.network, []).append(a.ip)
        result = self.strategy.readiness(
            Observation(
                status=server.status,
                age_seconds=server.age(now),
                boot_time_seconds=boot_time,
                console_tail=tail,
                addresses=addresses,
            )
        )
        probe_ok = result.state is ReadinessState.READY and self.probe(server)
        return Look(result.state, result.reason, probe_ok)

    def probe(self, server: Server) -> bool:
        """True when the configured probe answers on the internal address (always without a probe)."""
        probe = self.config.probe
        if probe == "none":
            return True
        from fleeting_openstack.provider.probe import probe_address

        internal = self.internal_address(server)
        return bool(internal) and probe_address(
            internal, self.config.probe_port, self.config.probe_timeout, banner=(probe == "ssh-banner")
        )
