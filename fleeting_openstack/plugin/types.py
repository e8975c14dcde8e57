"""The small, frozen types a boot strategy sees.

Strategies (built-in or third-party) get *only* these objects: never an
openstacksdk object, never a private key. The provider builds them from what
it read from the cloud and the operator's configuration.

All of them are frozen dataclasses; mapping fields are wrapped in a read-only
``MappingProxyType`` so a hook cannot change what the next hook sees.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias, TypeGuard

from fleeting_openstack.jsontypes import JSONValue

__all__ = [
    "KEY_TYPES",
    "ImageInfo",
    "InstanceContext",
    "InstanceCredentials",
    "KeyType",
    "Observation",
    "ReadinessResult",
    "ReadinessState",
    "StrategyError",
    "StrategyOptions",
    "UserDataError",
    "is_key_type",
]

#: The operator's ``strategy_options``: a JSON object (read-only), as plugin_config gives it.
StrategyOptions: TypeAlias = Mapping[str, JSONValue]

#: SSH key types a strategy may ask for (see ``fleeting_key_type``).
KeyType = Literal["ed25519", "rsa"]
KEY_TYPES: tuple[KeyType, ...] = ("ed25519", "rsa")


def is_key_type(value: object) -> TypeGuard[KeyType]:
    """True when ``value`` is one of :data:`KEY_TYPES`."""
    return value in KEY_TYPES


class StrategyError(Exception):
    """Base class of the errors raised by strategies and the strategy host."""


class UserDataError(StrategyError, ValueError):
    """The user_data cannot be built for this instance (raised at render time).

    Strategies raise it from ``fleeting_build_user_data`` /
    ``fleeting_inject_credentials`` when the input cannot be processed; the
    host's ``check()`` performs a trial render at Init so that such errors
    surface as configuration errors instead of failed creates.
    """


def _frozen_mapping(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if value is None:
        value = {}
    if not isinstance(value, MappingProxyType):
        object.__setattr__(obj, name, MappingProxyType(dict(value)))


@dataclass(frozen=True)
class ImageInfo:
    """What the provider knows about the Glance image of an instance.

    :param id: Glance image ID.
    :param name: image name.
    :param properties: all image properties as strings (``os_version``,
        ``hw_*``, site-specific ones ...).
    :param os_admin_user: Glance property ``os_admin_user`` (the login user the
        image publisher recommends), or None.
    :param os_type: Glance property ``os_type`` (``linux``, ``windows``), or None.
    :param os_distro: Glance property ``os_distro`` (``ubuntu``, ``debian``,
        ``fedora``, ``rocky``, ``flatcar`` ...), or None.
    :param architecture: Glance property ``architecture`` (``x86_64``,
        ``aarch64``), or None.
    """

    id: str
    name: str = ""
    properties: Mapping[str, str] = field(default_factory=dict)
    os_admin_user: str | None = None
    os_type: str | None = None
    os_distro: str | None = None
    architecture: str | None = None

    def __post_init__(self) -> None:
        _frozen_mapping(self, "properties")


@dataclass(frozen=True)
class InstanceContext:
    """One instance about to be created.

    :param name: the server name the provider will create.
    :param group: the fleeting group name (``plugin_config.name``).
    :param index: the instance's index (unique within the group's naming).
    :param cloud: the clouds.yaml entry in use ("" when auth comes from env).
    :param region: the region name ("" if none).
    :param image: the image the server boots from.
    :param user_data: the operator's ``user_data`` (None if unset). Inside
        ``fleeting_build_user_data`` and later hooks it is already templated.
    :param username: the login user the runner will connect as.
    :param options: the operator's strategy options (read-only).
    """

    name: str
    group: str
    index: int
    cloud: str
    region: str
    image: ImageInfo
    user_data: str | None
    username: str
    options: StrategyOptions = field(default_factory=dict)

    def __post_init__(self) -> None:
        _frozen_mapping(self, "options")


@dataclass(frozen=True)
class InstanceCredentials:
    """The credentials the runner will use for one instance.

    Only the *public* half of a key ever reaches a strategy. The password (if
    the operator configured one) is hidden from ``repr`` so hook tracing and
    log lines cannot leak it.

    :param username: login user.
    :param public_key_openssh: ``ssh-ed25519 AAAA...`` / ``ssh-rsa AAAA...`` or None.
    :param password: plain password for password logins, or None.
    """

    username: str
    public_key_openssh: str | None = None
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # explicit: never show the password
        pw = None if self.password is None else "<redacted>"
        return (
            f"InstanceCredentials(username={self.username!r}, "
            f"public_key_openssh={self.public_key_openssh!r}, password={pw})"
        )


@dataclass(frozen=True)
class Observation:
    """What the cloud shows about a server, for a readiness decision.

    :param status: Nova status (``ACTIVE``, ``BUILD``, ``ERROR`` ...).
    :param age_seconds: seconds since the server was created.
    :param boot_time_seconds: the operator's ``boot_time`` budget, or None when
        unset (then the provider does not wait for a console marker).
    :param console_tail: the last lines of the console log, or None when it was
        not (or could not be) read.
    :param addresses: network name -> addresses, as Nova reports them.
    """

    status: str
    age_seconds: float
    boot_time_seconds: float | None = None
    console_tail: str | None = None
    addresses: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _frozen_mapping(self, "addresses")


class ReadinessState(str, enum.Enum):
    """Outcome of a readiness decision."""

    READY = "ready"  #: the boot marker was seen (or none is expected)
    WAITING = "waiting"  #: not there yet; the provider applies boot_time
    FAILED = "failed"  #: the boot failed; the instance will not become usable


@dataclass(frozen=True)
class ReadinessResult:
    """A readiness decision and a human-readable reason (logged by the provider).

    :param state: READY, WAITING or FAILED.
    :param reason: why, e.g. ``cloud-init 23.4.4 finished (DataSourceOpenStackLocal)``.
    """

    state: ReadinessState
    reason: str = ""

    @classmethod
    def ready(cls, reason: str = "") -> ReadinessResult:
        return cls(ReadinessState.READY, reason)

    @classmethod
    def waiting(cls, reason: str = "") -> ReadinessResult:
        return cls(ReadinessState.WAITING, reason)

    @classmethod
    def failed(cls, reason: str = "") -> ReadinessResult:
        return cls(ReadinessState.FAILED, reason)
