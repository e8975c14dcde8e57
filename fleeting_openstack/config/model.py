"""The typed configuration: frozen dataclasses of a validated plugin_config.

What the rest of the plugin reads: :class:`PluginConfig` (with
:class:`ServerSpec`, :class:`ReadinessConfig`, :class:`CredentialsConfig`,
:class:`AddressConfig`), built by :mod:`.load` from a checked document and
never changed afterwards. The defaults live here and in
``schemas/plugin_config.schema.json`` only (a test ties the two); the builder
passes only what the document sets.

The ``user_data`` encoding, Nova's size limit and the create body built from
a :class:`ServerSpec` are Nova's business: :mod:`fleeting_openstack.openstack.nova`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleeting_openstack.config import identity
from fleeting_openstack.config.issues import ConfigIssue
from fleeting_openstack.config.units import parse_microversion
from fleeting_openstack.jsontypes import JSONObject, JSONValue

__all__ = [
    "DEFAULT_NOVA_MICROVERSION",
    "STATE_DIR_NAME",
    "AddressConfig",
    "CredentialsConfig",
    "LoadedConfig",
    "PluginConfig",
    "ReadinessConfig",
    "ServerSpec",
    "boots_from_volume",
    "default_state_dir",
]

#: Nova microversion used when neither the config nor OS_COMPUTE_API_VERSION sets one.
DEFAULT_NOVA_MICROVERSION = "2.79"
#: The directory name below $XDG_STATE_HOME or ~/.local/state.
STATE_DIR_NAME = "fleeting-plugin-openstack"


def looks_base64_encoded(text: str) -> bool:
    """Already-encoded user_data: valid base64 that decodes to UTF-8 text."""
    compact = "".join(text.split())
    if len(compact) < 16:
        return False
    try:
        decoded = base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return decoded.lstrip()[:1] in ("#", "{", "C", "<") or decoded.startswith("Content-Type")


def boots_from_volume(bdms: object) -> bool:
    """True when a block device with boot_index 0 has destination_type volume (boots from a volume)."""
    if not isinstance(bdms, list):
        return False
    for bdm in bdms:
        if not isinstance(bdm, Mapping):
            continue
        boot_index = bdm.get("boot_index")
        try:
            index = int(boot_index) if boot_index is not None else None
        except (TypeError, ValueError):
            index = None
        if index == 0 and bdm.get("destination_type") == "volume":
            return True
    return False


# --------------------------------------------------------------------------
# Typed configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadinessConfig:
    """``readiness``: when an ACTIVE server counts as ready."""

    console_lines: int = 100
    on_boot_timeout: str = "running"  # "running" | "delete"
    probe: str = "none"  # "none" | "tcp" | "ssh-banner"
    probe_port: int = 22
    probe_timeout: float = 3.0  # seconds


@dataclass(frozen=True)
class CredentialsConfig:
    """``credentials``: where generated keys live, and their type."""

    state_dir: str
    key_type: str = "auto"  # "auto" | "ed25519" | "rsa"


@dataclass(frozen=True)
class AddressConfig:
    """``address``: which server addresses the runner connects to."""

    internal_network: str | None = None
    external_network: str | None = None
    ip_version: int = 4


@dataclass(frozen=True)
class ServerSpec:
    """``server_spec``: the normalised Nova create-server body.

    ``body`` is a read-only view of the dict, with Nova's key names (plus
    ``image_name``/``flavor_name``, ``scheduler_hints`` and the plain-text
    ``user_data``); :meth:`to_dict` returns a deep copy
    (:func:`fleeting_openstack.openstack.nova.create_request` makes the
    ``POST /servers`` request for one instance).  Normalisations applied:
    deprecated spellings (see :data:`DEPRECATIONS`), ``security_groups``
    strings -> ``{"name": ...}``, integer ``flavorRef`` -> string.
    """

    # Any: the schema-checked body is read key by key by the adapter and the provider (``body.get``),
    # where the schema, not the type, says what each key holds.
    body: Mapping[str, Any]

    def to_dict(self) -> JSONObject:
        return copy.deepcopy(dict(self.body))

    # -- name ------------------------------------------------------------
    @property
    def name_template(self) -> str:
        name: str = self.body["name"]
        return name

    def render_name(self, index: int) -> str:
        """The server name for instance ``index``: the single ``%d`` replaced by it."""
        return identity.render_name(self.name_template, index)

    # -- image / flavor --------------------------------------------------
    @property
    def image_ref(self) -> str | None:
        value = self.body.get("imageRef")
        return value or None

    @property
    def image_name(self) -> str | None:
        return self.body.get("image_name")

    @property
    def flavor_ref(self) -> str | None:
        value = self.body.get("flavorRef")
        return None if value is None else str(value)

    @property
    def flavor_name(self) -> str | None:
        return self.body.get("flavor_name")

    @property
    def block_device_mapping_v2(self) -> list[JSONObject]:
        return copy.deepcopy(list(self.body.get("block_device_mapping_v2") or []))

    @property
    def boots_from_volume(self) -> bool:
        """True when a block device with boot_index 0 has destination_type volume."""
        return boots_from_volume(self.body.get("block_device_mapping_v2"))

    # -- networking ------------------------------------------------------
    @property
    def networks(self) -> list[JSONObject] | str | None:
        """The network list (copies of the items), ``"auto"``/``"none"``, or None if unset."""
        return copy.deepcopy(self.body.get("networks"))

    @property
    def network_ids(self) -> list[str]:
        nets = self.body.get("networks")
        if not isinstance(nets, list):
            return []
        return [n["uuid"] for n in nets if isinstance(n, Mapping) and n.get("uuid")]

    @property
    def port_ids(self) -> list[str]:
        nets = self.body.get("networks")
        if not isinstance(nets, list):
            return []
        return [n["port"] for n in nets if isinstance(n, Mapping) and n.get("port")]

    @property
    def security_groups(self) -> list[str]:
        """Security group names or IDs, in order."""
        return [g["name"] for g in self.body.get("security_groups") or []]

    @property
    def scheduler_hints(self) -> JSONObject:
        return copy.deepcopy(dict(self.body.get("scheduler_hints") or {}))

    # -- the rest --------------------------------------------------------
    @property
    def tags(self) -> list[str]:
        return list(self.body.get("tags") or [])

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.body.get("metadata") or {})

    @property
    def user_data(self) -> str | None:
        """Plain-text user_data as configured (not base64)."""
        return self.body.get("user_data")

    @property
    def key_name(self) -> str | None:
        return self.body.get("key_name")

    @property
    def availability_zone(self) -> str | None:
        return self.body.get("availability_zone")

    @property
    def description(self) -> str | None:
        return self.body.get("description")

    @property
    def hostname(self) -> str | None:
        return self.body.get("hostname")

    @property
    def config_drive(self) -> bool | None:
        return self.body.get("config_drive")


@dataclass(frozen=True)
class PluginConfig:
    """The validated plugin_config, defaults and environment overrides applied.

    Durations are float seconds (``boot_time`` None: not set).
    """

    name: str
    server_spec: ServerSpec
    cloud: str | None = None
    clouds_config: str | None = None
    auth_from_env: bool = False
    nova_microversion: str = DEFAULT_NOVA_MICROVERSION
    boot_time: float | None = None
    use_ignition: bool = False
    strategy: str = "cloud-init"
    strategy_options: Mapping[str, JSONValue] = field(default_factory=lambda: types.MappingProxyType({}))
    build_timeout: float = 1800.0
    max_size: int = 1000
    resync_interval: float = 600.0
    #: ``image_refresh``: how often ``server_spec.image_name`` is looked up again (0: only at Init).
    image_refresh: float = 600.0
    #: ``image_properties``: Glance properties the named image must also have (the newest match wins).
    image_properties: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    #: ``suspend_mode``: "stop" | "suspend" | "shelve" | "off" (Suspend/Resume's Nova actions).
    suspend_mode: str = "stop"
    create_concurrency: int = 10
    delete_concurrency: int = 20
    api_timeout: float | None = None  # None: clouds.yaml's api_timeout, else 60 s
    api_connect_timeout: float = 10.0
    retry_budget: float = 30.0
    stale_states_limit: float = 600.0
    create_backoff: float = 300.0
    flavor_fallbacks: tuple[str, ...] = ()
    availability_zone_fallbacks: tuple[str, ...] = ()
    floating_ip_pool: str | None = None
    log_level: str | None = None
    readiness: ReadinessConfig = field(default_factory=ReadinessConfig)
    credentials: CredentialsConfig = field(default_factory=lambda: CredentialsConfig(default_state_dir()))
    address: AddressConfig = field(default_factory=AddressConfig)
    #: ``metrics.listen``: where to serve Prometheus metrics (None: off).
    metrics_listen: str | None = None
    #: ``user_data_file``: the file the user_data was read from (its text is in server_spec.user_data).
    user_data_file: str | None = None

    @property
    def nova_microversion_tuple(self) -> tuple[int, int]:
        return parse_microversion(self.nova_microversion)

    @property
    def provider_id(self) -> str:
        """``openstack/<cloud>/<name>`` (``openstack/<name>`` without a cloud), as the Go plugin reported."""
        return "/".join(p for p in ("openstack", self.cloud or "", self.name) if p)

    def to_dict(self) -> JSONObject:
        """The effective configuration as plain data (durations in seconds)."""
        return {
            "cloud": self.cloud,
            "clouds_config": self.clouds_config,
            "auth_from_env": self.auth_from_env,
            "name": self.name,
            "nova_microversion": self.nova_microversion,
            "boot_time": self.boot_time,
            "use_ignition": self.use_ignition,
            "strategy": self.strategy,
            "strategy_options": copy.deepcopy(dict(self.strategy_options)),
            "build_timeout": self.build_timeout,
            "max_size": self.max_size,
            "resync_interval": self.resync_interval,
            "image_refresh": self.image_refresh,
            "image_properties": dict(self.image_properties),
            "suspend_mode": self.suspend_mode,
            "create_concurrency": self.create_concurrency,
            "delete_concurrency": self.delete_concurrency,
            "api_timeout": self.api_timeout,
            "api_connect_timeout": self.api_connect_timeout,
            "retry_budget": self.retry_budget,
            "stale_states_limit": self.stale_states_limit,
            "create_backoff": self.create_backoff,
            "flavor_fallbacks": list(self.flavor_fallbacks),
            "availability_zone_fallbacks": list(self.availability_zone_fallbacks),
            "floating_ip_pool": self.floating_ip_pool,
            "log_level": self.log_level,
            "readiness": vars(self.readiness).copy(),
            "credentials": vars(self.credentials).copy(),
            "address": vars(self.address).copy(),
            "metrics": {"listen": self.metrics_listen},
            "user_data_file": self.user_data_file,
            "server_spec": self.server_spec.to_dict(),
        }


@dataclass(frozen=True)
class LoadedConfig:
    """Result of :func:`load_plugin_config`: the config and the warnings found."""

    config: PluginConfig
    warning_issues: tuple[ConfigIssue, ...] = ()

    @property
    def warnings(self) -> list[str]:
        """The warnings as ``"path: message"`` lines."""
        return [str(w) for w in self.warning_issues]


def default_state_dir(env: Mapping[str, str] | None = None) -> str:
    """$STATE_DIRECTORY (first entry), else $XDG_STATE_HOME/fleeting-plugin-openstack,
    else ~/.local/state/fleeting-plugin-openstack."""
    env = os.environ if env is None else env
    state = (env.get("STATE_DIRECTORY") or "").split(":")[0]
    if state:
        return state
    xdg = env.get("XDG_STATE_HOME") or ""
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, STATE_DIR_NAME)
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".local", "state", STATE_DIR_NAME)
