"""The provider interface the fleeting service dispatches to, in plain Python.

Mirrors fleeting's Go ``provider.InstanceGroup`` so a provider knows nothing
of gRPC: the service layer (``service.py``) converts messages to these types
and exceptions to gRPC statuses. Any provider — the OpenStack one, or a test
double — implements :class:`InstanceGroup`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol


class State(str, enum.Enum):
    """Instance states as the runner knows them (fleeting provider.State)."""

    CREATING = "creating"
    RUNNING = "running"
    DELETING = "deleting"
    DELETED = "deleted"
    TIMEOUT = "timeout"
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"


@dataclass(frozen=True)
class ConnectorConfig:
    """fleeting's ConnectorConfig: how the runner reaches an instance.

    Durations are seconds (the wire carries Go nanoseconds).
    """

    os: str = ""
    arch: str = ""
    protocol: str = ""
    protocol_port: int = 0
    username: str = ""
    password: str = ""
    key: bytes = b""
    use_static_credentials: bool = False
    keepalive: float = 0.0
    timeout: float = 0.0

    def __repr__(self) -> str:  # never print secrets
        return (
            f"ConnectorConfig(os={self.os!r}, arch={self.arch!r}, protocol={self.protocol!r}, "
            f"protocol_port={self.protocol_port}, username={self.username!r}, "
            f"password={'***' if self.password else ''!r}, key={f'<{len(self.key)} bytes>'}, "
            f"use_static_credentials={self.use_static_credentials})"
        )

    def merged(
        self,
        *,
        os: str | None = None,
        arch: str | None = None,
        protocol: str | None = None,
        protocol_port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        key: bytes | None = None,
        use_static_credentials: bool | None = None,
    ) -> ConnectorConfig:
        """A copy with the fields given (not None) replaced."""
        return replace(
            self,
            os=self.os if os is None else os,
            arch=self.arch if arch is None else arch,
            protocol=self.protocol if protocol is None else protocol,
            protocol_port=self.protocol_port if protocol_port is None else protocol_port,
            username=self.username if username is None else username,
            password=self.password if password is None else password,
            key=self.key if key is None else key,
            use_static_credentials=(
                self.use_static_credentials if use_static_credentials is None else use_static_credentials
            ),
        )


@dataclass(frozen=True)
class Settings:
    """What the runner hands the plugin at Init besides plugin_config."""

    connector: ConnectorConfig = field(default_factory=ConnectorConfig)


@dataclass(frozen=True)
class ProviderInfo:
    id: str
    max_size: int
    version: str
    build_info: str = ""
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectInfo:
    id: str
    connector: ConnectorConfig
    internal_addr: str = ""
    external_addr: str = ""
    #: unix seconds after which the credentials are no longer valid; None = never.
    expires: float | None = None


class PartialError(Exception):
    """Some of a batch succeeded: ``done`` lists (or counts) those, the message says why the rest failed."""

    def __init__(self, message: str, done: int | Sequence[str]) -> None:
        super().__init__(message)
        self.done = done


class InstanceUnhealthy(Exception):
    """Heartbeat: the instance exists but must not be used (fleeting's ErrInstanceUnhealthy)."""


class InstanceGroup(Protocol):
    """What a provider implements. Errors raised carry a message for the runner."""

    def init(self, config: bytes, settings: Settings) -> ProviderInfo:
        """Validate ``config`` (plugin_config JSON), connect, return the group's identity."""

    def update(self) -> Iterable[tuple[str, State]]:
        """Every instance of the group with its state; must not fail for one bad instance."""

    def increase(self, delta: int) -> int:
        """Request ``delta`` new instances; return how many were requested (PartialError if not all)."""

    def decrease(self, ids: Sequence[str]) -> Sequence[str]:
        """Delete the given instances; return the ids whose removal was requested."""

    def connect_info(self, instance_id: str) -> ConnectInfo:
        """How to reach one instance now."""

    def heartbeat(self, instance_id: str) -> None:
        """Raise InstanceUnhealthy (or any error) when the instance must not be used."""

    def suspend(self, ids: Sequence[str]) -> Sequence[str]:
        """Park the given instances; the ids started (PartialError carrying them if not all;
        NotImplementedError when the provider declared no ``suspend_resume`` capability)."""

    def resume(self, ids: Sequence[str]) -> Sequence[str]:
        """Wake the given parked instances; the ids started (as :meth:`suspend`)."""

    def shutdown(self) -> None:
        """The runner is done with the group; release what the plugin holds."""
