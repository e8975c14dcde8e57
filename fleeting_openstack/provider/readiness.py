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

from fleeting_openstack.provider.cloud import Console
from fleeting_openstack.provider.states import Look

if TYPE_CHECKING:
    from fleeting_openstack.config import ReadinessConfig
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.plugin.types import Observation, ReadinessResult

log = logging.getLogger("fleeting_openstack.provider")

#: The runner's port per connector protocol (fleeting's defaults), dialled after a resume.
RESUME_PORTS = {"ssh": 22, "winrm": 5985, "winrm+https": 5986}


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
        *,
        connector: tuple[str, int] = ("ssh", 0),
    ) -> None:
        """``connector``: the runner's protocol and protocol_port (what a resume's probe dials when
        no probe is configured)."""
        self.cloud = cloud
        self.strategy = strategy
        self.config = config
        self.internal_address = internal_address
        protocol, port = connector
        protocol = protocol or "ssh"
        #: after a resume without a configured probe: the runner's own port (banner only for SSH)
        self.resume_port = port or RESUME_PORTS.get(protocol, 22)
        self.resume_banner = protocol == "ssh"

    def look(self, server: Server, now: float, boot_time: float | None, *, resumed: bool = False) -> Look:
        """``resumed``: the server is waking from a Resume. Its console may still hold the last boot's
        marker, so the probe must answer too: the configured one, or (probe "none") the runner's own
        port (the SSH banner for SSH); without ``boot_time`` only that probe is looked at."""
        from fleeting_openstack.plugin.types import Observation, ReadinessState

        if resumed and boot_time is None:
            ok = self.probe(server, resumed=True)
            return Look(ReadinessState.READY, "resumed; " + ("the probe answers" if ok else "no probe answer"), ok)
        assert boot_time is not None
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
        probe_ok = result.state is ReadinessState.READY and self.probe(server, resumed=resumed)
        return Look(result.state, result.reason, probe_ok)

    def probe(self, server: Server, *, resumed: bool = False) -> bool:
        """True when the configured probe answers on the internal address (always without a probe,
        except after a resume: then the runner's port, with the SSH banner for SSH)."""
        probe = self.config.probe
        if probe == "none" and not resumed:
            return True
        from fleeting_openstack.provider.probe import probe_address

        internal = self.internal_address(server)
        if probe == "none":
            return bool(internal) and probe_address(
                internal, self.resume_port, self.config.probe_timeout, banner=self.resume_banner
            )
        return bool(internal) and probe_address(
            internal, self.config.probe_port, self.config.probe_timeout, banner=(probe == "ssh-banner")
        )
