"""Plugin configuration: parse, normalise and validate ``plugin_config``.

``load_plugin_config(raw)`` turns the ``[runners.autoscaler.plugin_config]``
table (JSON bytes/str as gitlab-runner sends it, or an already-decoded dict)
into a frozen :class:`PluginConfig`, or raises :class:`ConfigError` listing
*every* problem at once, each with its JSON path (``server_spec.networks[0].uuid``).

Validation happens in four passes:

1. **Normalisation** of the spellings the original Go plugin accepted
   (:data:`DEPRECATIONS`, one table, each accepted with a warning), plus
   case-only variants of known keys in the sections the Go plugin decoded
   case-insensitively (top level, ``server_spec``, ``networks[]``,
   ``scheduler_hints``, ``block_device_mapping_v2[]``).
2. **JSON Schema** (``schemas/plugin_config.schema.json``, draft 2020-12):
   types, enums, ranges, patterns; unknown keys are errors with a
   "did you mean ...?" suggestion.
3. **Nova's own request rules**, checked offline: image/flavor choice, boot
   from volume, network items, tags, metadata, user_data size after base64,
   min/max count, keys that need a newer ``nova_microversion``, the server
   name template (a single ``%d``).
4. **Environment overrides**, as the original plugin did.

Precedence (highest first):

* ``cloud``: env ``OS_CLOUD`` (if non-empty) > ``cloud`` in plugin_config >
  unset (authenticate from ``OS_*`` variables).
* ``clouds_config``: env ``OS_CLIENT_CONFIG_FILE`` (if non-empty) >
  ``clouds_config`` > unset (openstacksdk's search path).
* ``nova_microversion``: ``nova_microversion`` in plugin_config > env
  ``OS_COMPUTE_API_VERSION`` (only if it is a ``2.N`` value; ignored with a
  warning otherwise) > ``"2.79"``.  (The Go plugin silently replaced the
  configured value by 2.79; here the configured value always wins.)
* ``credentials.state_dir``: configured > ``$STATE_DIRECTORY`` (first entry)
  > ``$XDG_STATE_HOME/fleeting-plugin-openstack`` >
  ``~/.local/state/fleeting-plugin-openstack``.
* ``strategy``: configured > ``"ignition"`` if ``use_ignition`` else
  ``"cloud-init"``.

An override that changes a configured value is reported as a warning.
"""
from __future__ import annotations

import base64
import binascii
import copy
import difflib
import functools
import importlib.resources
import json
import os
import re
import types
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema

from fleeting_openstack.config import identity
from fleeting_openstack.config.identity import GROUP_METADATA_KEY

__all__ = [
    "AddressConfig",
    "ConfigError",
    "ConfigIssue",
    "CredentialsConfig",
    "DEFAULT_NOVA_MICROVERSION",
    "DEPRECATIONS",
    "Deprecation",
    "GROUP_METADATA_KEY",
    "LoadedConfig",
    "MICROVERSION_REQUIREMENTS",
    "NOVA_MAX_TAGS",
    "NOVA_USER_DATA_MAX",
    "PluginConfig",
    "ReadinessConfig",
    "ServerSpec",
    "default_state_dir",
    "encode_user_data",
    "format_path",
    "join_path",
    "load_plugin_config",
    "parse_duration",
    "parse_microversion",
    "schema",
]

#: Nova microversion used when neither the config nor OS_COMPUTE_API_VERSION sets one.
DEFAULT_NOVA_MICROVERSION = "2.79"
#: Nova's limit on ``user_data``, in bytes *after* base64 encoding.
NOVA_USER_DATA_MAX = 65535
#: Nova's limit on tags per server (the plugin adds one: the group name).
NOVA_MAX_TAGS = 50
#: Nova's default ``metadata_items`` quota (the plugin adds one item).
NOVA_DEFAULT_METADATA_QUOTA = 128
STATE_DIR_NAME = "fleeting-plugin-openstack"


# --------------------------------------------------------------------------
# Issues and errors
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration.

    ``path`` is a JSON path relative to plugin_config, e.g.
    ``server_spec.networks[0].uuid`` ("" for the document itself);
    ``severity`` is ``"error"`` or ``"warning"``.
    """

    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def with_prefix(self, prefix: str) -> ConfigIssue:
        """The same issue with ``prefix`` (e.g. ``runners[0].autoscaler.plugin_config``) prepended."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return ConfigIssue(path, self.message, self.severity)

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": self.severity}


class ConfigError(ValueError):
    """The configuration is invalid.

    ``errors``: every error found (list of :class:`ConfigIssue`);
    ``warnings``: the warnings found along the way.  ``str()`` is one line
    per error, ``path: message``.
    """

    def __init__(self, errors: Iterable[ConfigIssue], warnings: Iterable[ConfigIssue] = ()) -> None:
        self.errors: list[ConfigIssue] = list(errors)
        self.warnings: list[ConfigIssue] = list(warnings)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]*$")


def join_path(base: str, key: str | int) -> str:
    """``join_path("server_spec", "networks") == "server_spec.networks"``;
    integers become ``[i]``; keys that are not identifier-like become ``["key"]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    key = str(key)
    if not _IDENT_RE.match(key):
        return f"{base}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{base}.{key}" if base else key


def format_path(parts: Iterable[str | int], base: str = "") -> str:
    path = base
    for part in parts:
        path = join_path(path, part)
    return path


def _natural_key(issue: ConfigIssue) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", issue.path)]


# --------------------------------------------------------------------------
# Durations and microversions
# --------------------------------------------------------------------------

_DURATION_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_NUMBER_RE = re.compile(r"([0-9]*)(\.([0-9]*))?")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``time.ParseDuration``) into seconds.

    Examples: ``"10m"`` -> 600.0, ``"1h30m"`` -> 5400.0, ``"1.5h"`` -> 5400.0,
    ``"500ms"`` -> 0.5, ``"0"`` -> 0.0, ``"-2s"`` -> -2.0.  Units: ns, us (µs, μs),
    ms, s, m, h.  Raises ValueError for anything else ("", "10", "1d", "m").
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    s = text
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = Decimal(0)
    while s:
        m = _DURATION_NUMBER_RE.match(s)
        assert m is not None  # the pattern matches the empty string
        whole, frac = m.group(1), m.group(3) or ""
        if not whole and not frac:
            raise ValueError(f"invalid duration {text!r}")
        s = s[m.end():]
        i = 0
        while i < len(s) and s[i] != "." and not s[i].isdigit():
            i += 1
        unit, s = s[:i], s[i:]
        if not unit:
            raise ValueError(f"missing unit in duration {text!r} (use ns, us, ms, s, m or h)")
        if unit not in _DURATION_UNITS_NS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r} (use ns, us, ms, s, m or h)")
        try:
            number = Decimal(f"{whole or '0'}.{frac or '0'}")
        except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
            raise ValueError(f"invalid duration {text!r}") from exc
        total += number * _DURATION_UNITS_NS[unit]
    seconds = float(total / Decimal(1_000_000_000))
    return -seconds if negative else seconds


_MICROVERSION_RE = re.compile(r"^2\.([0-9]+)$")


def parse_microversion(text: str) -> tuple[int, int]:
    """``"2.79"`` -> ``(2, 79)``.  Raises ValueError unless it is ``2.N`` with N >= 1."""
    m = _MICROVERSION_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"{text!r} is not a Nova microversion such as \"2.79\"")
    minor = int(m.group(1))
    if minor < 1:
        raise ValueError("2.0 is the legacy Nova API without microversions; use 2.1 or later")
    return (2, minor)


# --------------------------------------------------------------------------
# user_data
# --------------------------------------------------------------------------

def encode_user_data(text: str, key: str = "server_spec.user_data") -> str:
    """The ``user_data`` value sent to Nova for the plain text ``text``: its
    UTF-8 bytes in base64.  Nova rejects results longer than
    :data:`NOVA_USER_DATA_MAX` characters. A text that is not valid Unicode
    (a lone surrogate) raises ValueError naming ``key`` and the position."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end]
        raise ValueError(f"{key}: character {bad!r} at position {exc.start} cannot be encoded as UTF-8 "
                         "(a lone surrogate: an escape such as \\ud800 in the config, or a strategy's "
                         "output); Nova needs UTF-8 text") from None
    return base64.b64encode(raw).decode("ascii")


def _looks_base64_encoded(text: str) -> bool:
    """Already-encoded user_data: valid base64 that decodes to UTF-8 text."""
    compact = "".join(text.split())
    if len(compact) < 16:
        return False
    try:
        decoded = base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return decoded.lstrip()[:1] in ("#", "{", "C", "<") or decoded.startswith("Content-Type")


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = (
        importlib.resources.files("fleeting_openstack.schemas")
        .joinpath("plugin_config.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of plugin_config, as a fresh dict."""
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(_schema(), format_checker=cls.FORMAT_CHECKER)


def _def(name: str) -> dict[str, Any]:
    return _schema()["$defs"][name]


def _canonical_keys(section_schema: Mapping[str, Any]) -> list[str]:
    """Property names of a schema object, without the deprecated ones."""
    return [k for k, v in section_schema.get("properties", {}).items() if not v.get("deprecated")]


def _section_schemas() -> dict[str, dict[str, Any]]:
    return {
        "": _schema(),
        "server_spec": _def("server_spec"),
        "server_spec.networks[]": _def("network"),
        "server_spec.scheduler_hints": _def("scheduler_hints"),
        "server_spec.block_device_mapping_v2[]": _def("block_device"),
    }


# --------------------------------------------------------------------------
# Deprecated spellings: THE table
# --------------------------------------------------------------------------

def _bool_from_string(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return {"use_ignition": value.strip().lower() == "true"}
    return None


def _query_from_array(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list):
        return {"query": json.dumps(value)}
    return None


def _split_build_near_host_ip(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    ip, sep, prefix = value.partition("/")
    out: dict[str, Any] = {"build_near_host_ip": ip}
    if sep:
        out["cidr"] = "/" + prefix
    return out


def _empty_means_unset(value: Any) -> dict[str, Any] | None:
    return {} if value == "" else None


def _merge_hints(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return dict(value)
    return None


@dataclass(frozen=True)
class Deprecation:
    """A spelling the original Go plugin accepted and this plugin still does, with a warning.

    ``section``: where the key lives ("" is plugin_config's top level;
    ``[]`` marks list items).  ``key``: the deprecated spelling, matched
    case-insensitively (the Go plugin's JSON decoder did).  ``replacement``:
    the key it becomes.  ``convert``: value -> replacement entries, or None
    when the value is not in the deprecated form (then it is left for the
    schema to judge); None means a plain rename.
    """

    section: str
    key: str
    replacement: str
    note: str
    convert: Callable[[Any], dict[str, Any] | None] | None = None  # {} drops the key

    @property
    def renames(self) -> bool:
        return self.key != self.replacement

    def apply(self, value: Any) -> dict[str, Any] | None:
        if self.convert is None:
            return {self.replacement: value}
        return self.convert(value)


DEPRECATIONS: tuple[Deprecation, ...] = (
    Deprecation("", "use_ignition", "use_ignition",
                'a string ("true"/"false", as the original README\'s table said) is deprecated: write a boolean, '
                "use_ignition = true", _bool_from_string),
    Deprecation("", "boot_time", "boot_time",
                'an empty string means "not set" (as in the original plugin); remove the key', _empty_means_unset),
    Deprecation("", "nova_microversion", "nova_microversion",
                'an empty string means "not set" (the original plugin ignored it); remove the key',
                _empty_means_unset),
    Deprecation("", "clouds_config", "clouds_config",
                'an empty string means "not set" (as in the original plugin); remove the key', _empty_means_unset),
    Deprecation("server_spec.networks[]", "fixedip", "fixed_ip",
                "the original plugin read only 'fixedip' and silently dropped Nova's 'fixed_ip'"),
    Deprecation("server_spec.scheduler_hints", "differentHost", "different_host",
                "the original plugin's spelling; Nova's is 'different_host'"),
    Deprecation("server_spec.scheduler_hints", "sameHost", "same_host",
                "the original plugin's spelling; Nova's is 'same_host'"),
    Deprecation("server_spec.scheduler_hints", "buildNearHostIP", "build_near_host_ip",
                "the original plugin's \"IP/prefix\" form; Nova takes build_near_host_ip and cidr separately",
                _split_build_near_host_ip),
    Deprecation("server_spec.scheduler_hints", "additionalProperties", "<custom hints>",
                "the original plugin's catch-all map; write custom hints directly in scheduler_hints",
                _merge_hints),
    Deprecation("server_spec.scheduler_hints", "query", "query",
                "the original plugin's array form is deprecated: write the JsonFilter query as a JSON string",
                _query_from_array),
)

#: Sections the Go plugin decoded with encoding/json (case-insensitive keys).
_CASE_INSENSITIVE_SECTIONS = frozenset(
    ["", "server_spec", "server_spec.networks[]", "server_spec.scheduler_hints",
     "server_spec.block_device_mapping_v2[]"])


# --------------------------------------------------------------------------
# Microversion-gated keys
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class _MicroversionRule:
    where: str  # section path; "[]" marks list items
    key: str
    minimum: str
    allowed: Callable[[tuple[int, int]], bool]


def _at_least(minor: int) -> Callable[[tuple[int, int]], bool]:
    return lambda mv: mv >= (2, minor)


MICROVERSION_REQUIREMENTS: tuple[_MicroversionRule, ...] = (
    _MicroversionRule("server_spec", "description", "2.19", _at_least(19)),
    _MicroversionRule("server_spec", "tags", "2.52", _at_least(52)),
    _MicroversionRule("server_spec", "trusted_image_certificates", "2.63", _at_least(63)),
    _MicroversionRule("server_spec", "host", "2.74", _at_least(74)),
    _MicroversionRule("server_spec", "hypervisor_hostname", "2.74", _at_least(74)),
    _MicroversionRule("server_spec", "hostname", "2.90", _at_least(90)),
    _MicroversionRule("server_spec.networks[]", "tag", "2.42",
                      lambda mv: mv >= (2, 42) or (2, 32) <= mv <= (2, 36)),
    _MicroversionRule("server_spec.block_device_mapping_v2[]", "tag", "2.42",
                      lambda mv: mv >= (2, 42) or mv == (2, 32)),
    _MicroversionRule("server_spec.block_device_mapping_v2[]", "volume_type", "2.67", _at_least(67)),
)


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


class _Keep:
    def __repr__(self) -> str:
        return "<keep>"


_KEEP: Any = _Keep()


@dataclass(frozen=True)
class ServerSpec:
    """``server_spec``: the normalised Nova create-server body.

    ``body`` is a read-only view of the dict, with Nova's key names (plus
    ``image_name``/``flavor_name``, ``scheduler_hints`` and the plain-text
    ``user_data``); :meth:`to_dict` returns a deep copy, :meth:`nova_request`
    the ``POST /servers`` request for one instance.  Normalisations applied:
    deprecated spellings (see :data:`DEPRECATIONS`), ``security_groups``
    strings -> ``{"name": ...}``, integer ``flavorRef`` -> string.
    """

    body: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.body))

    # -- name ------------------------------------------------------------
    @property
    def name_template(self) -> str:
        return self.body["name"]

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
    def block_device_mapping_v2(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.body.get("block_device_mapping_v2") or []))

    @property
    def boots_from_volume(self) -> bool:
        """True when a block device with boot_index 0 has destination_type volume."""
        return _boots_from_volume(self.body.get("block_device_mapping_v2"))

    # -- networking ------------------------------------------------------
    @property
    def networks(self) -> list[dict[str, Any]] | str | None:
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
    def scheduler_hints(self) -> dict[str, Any]:
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

    def nova_request(
        self,
        *,
        index: int | None = None,
        image_ref: str | None = None,
        flavor_ref: str | None = None,
        user_data: str | None = _KEEP,
        metadata: Mapping[str, str] | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The ``POST /servers`` request body for one server.

        Returns ``{"server": {...}}`` plus ``"os:scheduler_hints"`` when there are
        hints.  ``index`` renders the name; ``image_ref``/``flavor_ref`` supply
        the IDs resolved from ``image_name``/``flavor_name`` (required then);
        ``user_data`` replaces the configured text (None removes it) and is
        base64-encoded; ``metadata``/``tags`` are added to the configured ones.
        Raises ValueError when a name is unresolved or user_data is too large.
        """
        server = self.to_dict()
        hints = server.pop("scheduler_hints", None)
        image_name = server.pop("image_name", None)
        flavor_name = server.pop("flavor_name", None)
        if index is not None:
            server["name"] = self.render_name(index)
        if image_ref is not None:
            server["imageRef"] = image_ref
        elif image_name is not None:
            raise ValueError(f"server_spec.image_name {image_name!r} must be resolved: pass image_ref")
        if flavor_ref is not None:
            server["flavorRef"] = flavor_ref
        elif flavor_name is not None:
            raise ValueError(f"server_spec.flavor_name {flavor_name!r} must be resolved: pass flavor_ref")
        text = self.user_data if user_data is _KEEP else user_data
        server.pop("user_data", None)
        if text is not None:
            encoded = encode_user_data(text, "server_spec.user_data" if user_data is _KEEP else
                                       "user_data (server_spec.user_data as rendered by the boot strategy)")
            if len(encoded) > NOVA_USER_DATA_MAX:
                raise ValueError(
                    f"user_data is {len(encoded)} bytes after base64 encoding; Nova's limit is {NOVA_USER_DATA_MAX}")
            server["user_data"] = encoded
        if metadata:
            server["metadata"] = {**(server.get("metadata") or {}), **dict(metadata)}
        if tags:
            current = list(server.get("tags") or [])
            server["tags"] = current + [t for t in tags if t not in current]
        request: dict[str, Any] = {"server": server}
        if hints:
            request["os:scheduler_hints"] = hints
        return request


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
    strategy_options: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))
    build_timeout: float = 1800.0
    max_size: int = 1000
    resync_interval: float = 600.0
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

    def to_dict(self) -> dict[str, Any]:
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


# --------------------------------------------------------------------------
# Issue collection
# --------------------------------------------------------------------------

class _Issues:
    def __init__(self) -> None:
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self._schema_paths: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigIssue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ConfigIssue(path, message, "warning"))

    def schema_error(self, issue: ConfigIssue) -> None:
        self.errors.append(issue)
        self._schema_paths.add(issue.path)

    def blocked(self, path: str) -> bool:
        """A schema error at ``path`` or at one of its ancestors."""
        for p in self._schema_paths:
            if p == path or (path.startswith(p) and path[len(p):len(p) + 1] in (".", "[")):
                return True
        return False

    def check(self, path: str, message: str) -> None:
        """A semantic error, unless the schema already reported this spot."""
        if not self.blocked(path):
            self.error(path, message)

    def finish(self) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
        def dedupe(items: list[ConfigIssue]) -> list[ConfigIssue]:
            seen: set[tuple[str, str]] = set()
            out = []
            for item in items:
                if (item.path, item.message) not in seen:
                    seen.add((item.path, item.message))
                    out.append(item)
            return out

        return (sorted(dedupe(self.errors), key=_natural_key), dedupe(self.warnings))


# --------------------------------------------------------------------------
# Unknown-key suggestions
# --------------------------------------------------------------------------

_CONNECTOR_KEYS = ("os", "arch", "protocol", "protocol_port", "username", "password", "key_path",
                   "use_static_credentials", "keepalive", "timeout", "use_external_addr")
_AUTOSCALER_KEYS = ("capacity_per_instance", "max_use_count", "max_instances", "plugin",
                    "delete_instances_on_shutdown", "instance_ready_command", "policy",
                    "connector_config", "plugin_config", "state_storage", "vm_isolation")
_MISPLACED: dict[str, dict[str, str]] = {
    "": {
        **{k: "it belongs in [runners.autoscaler.connector_config], not in plugin_config" for k in _CONNECTOR_KEYS},
        **{k: "it belongs in [runners.autoscaler], not in plugin_config" for k in _AUTOSCALER_KEYS},
    },
    "server_spec": {
        "personality": "Nova removed personality in microversion 2.57; use user_data",
        "os:scheduler_hints": "write the hints in server_spec.scheduler_hints",
        "OS-SCH-HNT:scheduler_hints": "write the hints in server_spec.scheduler_hints",
        "block_device_mapping": "the legacy format is not supported; use block_device_mapping_v2",
        "return_reservation_id": "the plugin creates one server per request",
        "image": "use imageRef (an image UUID) or image_name",
        "flavor": "use flavorRef (a flavor ID) or flavor_name",
    },
}


def _close(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    squashed = {c.lower().replace("_", "").replace("-", ""): c for c in candidates}
    key = word.lower().replace("_", "").replace("-", "")
    if key in squashed:
        return squashed[key]
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    if match:
        return match[0]
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    if match:
        return lowered[match[0]]
    prefixed = [c for c in candidates if len(word) >= 3 and c.lower().startswith(word.lower())]
    return prefixed[0] if len(prefixed) == 1 else None


def _unknown_key_message(section: str, key: str, candidates: Sequence[str]) -> str:
    hint = _MISPLACED.get(section, {}).get(key)
    if hint:
        return f"unknown key {key!r}: {hint}"
    if section == "" and key in _def("server_spec")["properties"]:
        return f"unknown key {key!r}: it belongs inside server_spec"
    if section == "server_spec" and key in _schema()["properties"] and key != "name":
        return f"unknown key {key!r}: it belongs at the top level of plugin_config, not inside server_spec"
    suggestion = _close(key, candidates)
    if suggestion:
        return f"unknown key {key!r}; did you mean {suggestion!r}?"
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return f"unknown key {key!r} (known keys: {shown})"


def _section_of(path: str) -> str:
    """Schema section of a JSON path: ``server_spec.networks[3]`` -> ``server_spec.networks[]``."""
    return re.sub(r"\[\d+\]", "[]", path)


# --------------------------------------------------------------------------
# Pass 1: normalisation
# --------------------------------------------------------------------------

def _normalise_section(obj: dict[str, Any], section: str, path: str, issues: _Issues) -> dict[str, Any]:
    sschema = _section_schemas()[section]
    canonical = _canonical_keys(sschema)
    deps = [d for d in DEPRECATIONS if d.section == section]
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}  # new key -> key it came from (for conflict messages)

    def put(key: str, value: Any, source: str) -> None:
        if key in out:
            first = origin.get(key, key)
            issues.error(join_path(path, source),
                         f"conflicts with {first!r} (both set {key!r}); remove one of them")
            return
        out[key] = value
        origin[key] = source

    # Canonical keys first, so that conflicts are reported on the deprecated spelling.
    ordered = sorted(obj.items(), key=lambda kv: 0 if kv[0] in canonical or not isinstance(kv[0], str) else 1)
    for key, value in ordered:
        if not isinstance(key, str) or key in sschema.get("properties", {}) and key in canonical:
            put(key, value, key)
            continue
        dep = next((d for d in deps if d.renames and d.key.lower() == key.lower()), None)
        if dep is not None:
            entries = dep.apply(value)
            if entries is None:
                put(key, value, key)  # left for the schema to report
                continue
            if dep.key == "additionalProperties":
                issues.warn(join_path(path, key), f"{key!r} is deprecated: {dep.note}")
            else:
                issues.warn(join_path(path, key), f"{key!r} is deprecated: write {dep.replacement!r} ({dep.note})")
            for new_key, new_value in entries.items():
                put(new_key, new_value, key)
            continue
        if section in _CASE_INSENSITIVE_SECTIONS:
            match = [c for c in canonical if c.lower() == key.lower()]
            if len(match) == 1:
                issues.warn(join_path(path, key),
                            f"{key!r} accepted as {match[0]!r} (the original plugin matched keys "
                            f"case-insensitively); write {match[0]!r}")
                put(match[0], value, key)
                continue
        put(key, value, key)

    # Value forms (same key, deprecated value shape).
    for dep in deps:
        if dep.renames or dep.key not in out:
            continue
        entries = dep.apply(out[dep.key])
        if entries is not None:
            issues.warn(join_path(path, dep.key), dep.note)
            if dep.key not in entries:
                del out[dep.key]
            out.update(entries)
    return out


def _normalise(doc: dict[str, Any], issues: _Issues) -> dict[str, Any]:
    doc = _normalise_section(doc, "", "", issues)
    spec = doc.get("server_spec")
    if isinstance(spec, dict):
        spec = _normalise_section(spec, "server_spec", "server_spec", issues)
        nets = spec.get("networks")
        if isinstance(nets, list):
            spec["networks"] = [
                _normalise_section(n, "server_spec.networks[]", f"server_spec.networks[{i}]", issues)
                if isinstance(n, dict) else n
                for i, n in enumerate(nets)
            ]
        hints = spec.get("scheduler_hints")
        if isinstance(hints, dict):
            spec["scheduler_hints"] = _normalise_section(
                hints, "server_spec.scheduler_hints", "server_spec.scheduler_hints", issues)
        bdms = spec.get("block_device_mapping_v2")
        if isinstance(bdms, list):
            spec["block_device_mapping_v2"] = [
                _normalise_section(b, "server_spec.block_device_mapping_v2[]",
                                   f"server_spec.block_device_mapping_v2[{i}]", issues)
                if isinstance(b, dict) else b
                for i, b in enumerate(bdms)
            ]
        doc["server_spec"] = spec
    return doc


# --------------------------------------------------------------------------
# Pass 2: JSON Schema
# --------------------------------------------------------------------------

_TYPE_WORDS = {
    "object": "an object (table)",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return type(value).__name__


def _types_phrase(types_: Sequence[str]) -> str:
    words = [_TYPE_WORDS.get(t, t) for t in types_]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _branch_types(schema_: Mapping[str, Any]) -> list[str]:
    if "$ref" in schema_:
        ref = schema_["$ref"]
        if ref.startswith("#/$defs/"):
            schema_ = {**_def(ref.split("/")[-1]), **{k: v for k, v in schema_.items() if k != "$ref"}}
    t = schema_.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return list(t)
    if "const" in schema_ or "enum" in schema_:
        values = schema_.get("enum", [schema_.get("const")])
        return [json.dumps(v) for v in values]
    return []


def _convert_error(err: jsonschema.ValidationError) -> list[ConfigIssue]:
    path = format_path(err.absolute_path)
    v = err.validator
    sch = err.schema if isinstance(err.schema, Mapping) else {}
    custom = sch.get("errorMessage")
    inst = err.instance

    if "propertyNames" in err.schema_path or "propertyNames" in err.absolute_schema_path:
        # err.instance is the offending key; the path is its object's.
        return [ConfigIssue(join_path(path, str(inst)), custom or f"invalid key {inst!r}")]

    if v == "additionalProperties" and isinstance(inst, Mapping):
        props = sch.get("properties", {})
        patterns = list(sch.get("patternProperties", {}))
        candidates = _canonical_keys(sch)
        section = _section_of(path)
        out = []
        for key in inst:
            if key in props or any(re.search(p, str(key)) for p in patterns):
                continue
            out.append(ConfigIssue(join_path(path, str(key)), _unknown_key_message(section, str(key), candidates)))
        return out

    if v == "required" and isinstance(inst, Mapping):
        return [ConfigIssue(join_path(path, k), "is required") for k in err.validator_value if k not in inst]

    if v in ("anyOf", "oneOf"):
        groups: dict[int, list[jsonschema.ValidationError]] = {}
        for sub in err.context or ():
            groups.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [i for i, subs in groups.items()
                    if not any(s.validator == "type" and not s.relative_path for s in subs)]
        if len(matching) == 1:
            subs = groups[matching[0]]
            if any(s.relative_path for s in subs) or not custom:
                out = []
                for s in subs:
                    out.extend(_convert_error(s))
                return out
        if custom:
            return [ConfigIssue(path, f"{custom} (got {_short(inst)})")]
        if not matching:
            kinds: list[str] = []
            for branch in err.validator_value:
                for t in _branch_types(branch):
                    if t not in kinds:
                        kinds.append(t)
            if kinds:
                return [ConfigIssue(path, f"must be {_types_phrase(kinds)}, got {_describe(inst)}")]
        return [ConfigIssue(path, f"{_short(inst)} is not valid here")]

    if v == "type":
        expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return [ConfigIssue(path, f"must be {_types_phrase(expected)}, got {_describe(inst)}")]

    if custom and v in ("pattern", "format", "enum", "const"):
        return [ConfigIssue(path, f"{custom} (got {_short(inst)})")]

    if v in ("enum", "const"):
        allowed = err.validator_value if v == "enum" else [err.validator_value]
        shown = ", ".join(json.dumps(a) for a in allowed)
        msg = f"must be one of {shown} (got {_short(inst)})"
        if isinstance(inst, str):
            guess = _close(inst, [a for a in allowed if isinstance(a, str)])
            if guess is not None and guess != inst:
                msg += f"; did you mean {guess!r}?"
        return [ConfigIssue(path, msg)]
    if v == "minimum":
        return [ConfigIssue(path, f"must be at least {err.validator_value} (got {_short(inst)})")]
    if v == "maximum":
        return [ConfigIssue(path, f"must be at most {err.validator_value} (got {_short(inst)})")]
    if v == "minLength":
        if err.validator_value == 1:
            return [ConfigIssue(path, "must not be empty")]
        return [ConfigIssue(path, f"must be at least {err.validator_value} characters long")]
    if v == "maxLength":
        return [ConfigIssue(path, f"must be at most {err.validator_value} characters long (got {len(inst)})")]
    if v == "minItems":
        if err.validator_value == 1:
            return [ConfigIssue(path, "must not be an empty list")]
        return [ConfigIssue(path, f"must have at least {err.validator_value} items (got {len(inst)})")]
    if v == "maxItems":
        return [ConfigIssue(path, f"must have at most {err.validator_value} items (got {len(inst)})")]
    if v == "uniqueItems":
        return [ConfigIssue(path, "must not contain duplicates")]
    if v == "pattern":
        return [ConfigIssue(path, f"must match the pattern {err.validator_value} (got {_short(inst)})")]
    if v == "format":
        return [ConfigIssue(path, f"must be a valid {err.validator_value} (got {_short(inst)})")]
    return [ConfigIssue(path, err.message)]


def _schema_pass(doc: dict[str, Any], issues: _Issues) -> None:
    found: list[tuple[ConfigIssue, bool]] = []
    for err in _validator().iter_errors(doc):
        is_type = err.validator == "type"
        found.extend((issue, is_type) for issue in _convert_error(err))
    # A wrong type makes the other complaints about the same value noise.
    typed = {issue.path for issue, is_type in found if is_type}
    for issue, is_type in found:
        if is_type or issue.path not in typed:
            issues.schema_error(issue)


# --------------------------------------------------------------------------
# Pass 3: Nova's own rules and cross-field checks
# --------------------------------------------------------------------------

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")
_KNOWN_HINTS = ("group", "different_host", "same_host", "query", "target_cell", "different_cell",
                "build_near_host_ip", "cidr")


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def _boots_from_volume(bdms: Any) -> bool:
    if not isinstance(bdms, list):
        return False
    for bdm in bdms:
        if not isinstance(bdm, Mapping):
            continue
        try:
            index = int(bdm.get("boot_index")) if bdm.get("boot_index") is not None else None
        except (TypeError, ValueError):
            index = None
        if index == 0 and bdm.get("destination_type") == "volume":
            return True
    return False


def _is_printable_name(text: str) -> bool:
    """Printable (control characters are reported by _check_control_chars, not here)."""
    return all(ch.isprintable() or unicodedata.category(ch) == "Cc" for ch in text)


def _check_name_template(spec: Mapping[str, Any], issues: _Issues) -> None:
    name = spec.get("name")
    path = "server_spec.name"
    if not isinstance(name, str) or not name:
        return
    if name != name.strip():
        issues.check(path, "must not start or end with whitespace (Nova rejects it)")
    if not _is_printable_name(name):
        issues.check(path, "must contain only printable characters")
    rest = name.replace("%d", "", 1)
    if "%" in rest:
        issues.check(path, f"'%' may appear only as a single %d (the instance index) (got {name!r})")
    elif "%d" not in name:
        issues.warn(path, "has no %d: the plugin appends \"-<index>\" to keep names unique; "
                          "put %d where the instance index belongs, e.g. \"runner-%d\"")


def _check_image_flavor(spec: dict[str, Any], issues: _Issues) -> None:
    bfv = _boots_from_volume(spec.get("block_device_mapping_v2"))
    has_ref = "imageRef" in spec
    image_ref = spec.get("imageRef")
    has_name = "image_name" in spec
    if bfv:
        if has_ref and image_ref != "" and has_name:
            issues.check("server_spec.image_name", "conflicts with imageRef; set at most one of them")
    else:
        if has_ref and image_ref == "":
            issues.check("server_spec.imageRef", "may be empty only when block_device_mapping_v2 boots from a "
                                                 "volume (boot_index 0, destination_type volume)")
        elif has_ref and has_name:
            issues.check("server_spec.image_name", "conflicts with imageRef; set exactly one of them")
        elif not has_ref and not has_name:
            issues.check("server_spec", "needs an image: set imageRef (UUID) or image_name, or boot from a volume "
                                        "with block_device_mapping_v2")
    has_fref = "flavorRef" in spec
    has_fname = "flavor_name" in spec
    if has_fref and has_fname:
        issues.check("server_spec.flavor_name", "conflicts with flavorRef; set exactly one of them")
    elif not has_fref and not has_fname:
        issues.check("server_spec", "needs a flavor: set flavorRef (flavor ID) or flavor_name")
    if isinstance(spec.get("flavorRef"), int) and not isinstance(spec.get("flavorRef"), bool):
        spec["flavorRef"] = str(spec["flavorRef"])
    if isinstance(spec.get("flavorRef"), str) and spec["flavorRef"] and not spec["flavorRef"].strip():
        issues.check("server_spec.flavorRef", "must not be blank")


def _check_networks(spec: dict[str, Any], mv: tuple[int, int] | None, max_size: int, issues: _Issues) -> None:
    nets = spec.get("networks")
    base = "server_spec.networks"
    if nets is None:
        if mv is not None and mv >= (2, 37):
            issues.check(base, f"is required by Nova from microversion 2.37 (configured: 2.{mv[1]}): list the "
                               "networks, or write \"auto\" or \"none\"")
        return
    if isinstance(nets, str):
        if mv is not None and mv < (2, 37):
            issues.check(base, f"{nets!r} needs nova_microversion 2.37 or later (configured: 2.{mv[1]})")
        return
    if not isinstance(nets, list):
        return
    if not nets:
        issues.warn(base, "is an empty list: write \"none\" for no network, or list at least one network")
    for i, net in enumerate(nets):
        if not isinstance(net, Mapping):
            continue
        p = f"{base}[{i}]"
        if "uuid" not in net and "port" not in net:
            issues.check(p, "needs uuid (a network) or port (an existing port)")
        if "port" in net and "fixed_ip" in net:
            issues.check(f"{p}.fixed_ip", "cannot be combined with port (Nova rejects the pair); set the IP on the port")
        if max_size > 1 and "port" in net:
            issues.warn(f"{p}.port", f"a Neutron port attaches to one server only, but max_size allows {max_size} "
                                     "servers: the second create fails")
        if max_size > 1 and "fixed_ip" in net:
            issues.warn(f"{p}.fixed_ip", f"a fixed IP can be used by one server only, but max_size allows {max_size} "
                                         "servers: the second create fails")


def _check_security_groups(spec: dict[str, Any], issues: _Issues) -> None:
    groups = spec.get("security_groups")
    if not isinstance(groups, list):
        return
    normalised = []
    seen: set[str] = set()
    for i, g in enumerate(groups):
        name = g if isinstance(g, str) else g.get("name") if isinstance(g, Mapping) else None
        if isinstance(name, str):
            if name != name.strip():
                issues.check(f"server_spec.security_groups[{i}]", "must not start or end with whitespace")
            if name in seen:
                issues.warn(f"server_spec.security_groups[{i}]", f"duplicate security group {name!r}")
            seen.add(name)
            normalised.append({"name": name})
        else:
            normalised.append(g)
    spec["security_groups"] = normalised


def _check_scheduler_hints(spec: dict[str, Any], issues: _Issues) -> None:
    hints = spec.get("scheduler_hints")
    base = "server_spec.scheduler_hints"
    if not isinstance(hints, dict):
        return
    deprecated = [d.key for d in DEPRECATIONS if d.section == "server_spec.scheduler_hints" and d.renames]
    for key in list(hints):
        if key in _KNOWN_HINTS or key in deprecated:
            continue
        guess = _close(key, _KNOWN_HINTS, cutoff=0.75)
        if guess is not None:
            issues.check(join_path(base, key), f"unknown scheduler hint {key!r}; did you mean {guess!r}? "
                                               "(a misspelt hint is silently ignored by Nova)")
        else:
            issues.warn(join_path(base, key), f"{key!r} is not a standard Nova scheduler hint; it is passed to the "
                                              "scheduler verbatim (for custom filters)")
    query = hints.get("query")
    if isinstance(query, str):
        try:
            json.loads(query)
        except ValueError:
            issues.check(f"{base}.query", "must be a JSON document, e.g. '[\">=\", \"$free_ram_mb\", 1024]'")
    if "cidr" in hints and "build_near_host_ip" not in hints:
        issues.warn(f"{base}.cidr", "is used only together with build_near_host_ip")


def _check_block_devices(spec: dict[str, Any], issues: _Issues) -> None:
    bdms = spec.get("block_device_mapping_v2")
    if not isinstance(bdms, list):
        return
    boot_zero = []
    for i, bdm in enumerate(bdms):
        if not isinstance(bdm, Mapping):
            continue
        p = f"server_spec.block_device_mapping_v2[{i}]"
        source = bdm.get("source_type")
        dest = bdm.get("destination_type")
        if source in ("image", "volume", "snapshot"):
            if "uuid" not in bdm:
                issues.check(f"{p}.uuid", f"is required with source_type {source!r}")
            elif not _is_uuid(bdm.get("uuid")):
                issues.check(f"{p}.uuid", f"must be the UUID of the {source} (got {_short(bdm.get('uuid'))})")
        if source == "blank" and "uuid" in bdm:
            issues.check(f"{p}.uuid", "must not be set with source_type 'blank'")
        if source == "volume" and dest == "local":
            issues.check(f"{p}.destination_type", "must be 'volume' with source_type 'volume'")
        if source in ("image", "blank") and dest == "volume" and "volume_size" not in bdm:
            issues.check(f"{p}.volume_size", f"is required to create a volume from source_type {source!r}")
        creates_volume = dest == "volume" and source in ("image", "blank", "snapshot")
        if creates_volume and bdm.get("delete_on_termination") is not True:
            issues.warn(f"{p}.delete_on_termination",
                        "is not true: the volume created for each server outlives it (leaks); "
                        "set delete_on_termination = true")
        try:
            index = int(bdm.get("boot_index")) if bdm.get("boot_index") is not None else None
        except (TypeError, ValueError):
            index = None
        if index == 0:
            boot_zero.append(i)
    for i in boot_zero[1:]:
        issues.check(f"server_spec.block_device_mapping_v2[{i}].boot_index",
                     f"only one device may have boot_index 0 (block_device_mapping_v2[{boot_zero[0]}] has it too)")


#: Nova's hard limit on metadata keys per server (key and value length: the schema, 255).
NOVA_MAX_METADATA_KEYS = 128
#: Metadata items the plugin itself sets (cluster, index, request, key salt, key type, key verifier).
PLUGIN_METADATA_KEYS = len(identity.PLUGIN_METADATA)


def _check_tags_metadata(doc: Mapping[str, Any], spec: dict[str, Any], issues: _Issues) -> None:
    group = doc.get("name") if isinstance(doc.get("name"), str) else None
    tags = spec.get("tags")
    if isinstance(tags, list):
        extra = 0 if group in tags else 1
        if len(tags) + extra > NOVA_MAX_TAGS:
            issues.check("server_spec.tags",
                         f"has {len(tags)} tags; Nova allows {NOVA_MAX_TAGS} per server and the plugin adds the group "
                         f"name as a tag, so at most {NOVA_MAX_TAGS - 1} may be configured")
    meta = spec.get("metadata")
    if isinstance(meta, dict):
        if GROUP_METADATA_KEY in meta:
            issues.check(join_path("server_spec.metadata", GROUP_METADATA_KEY),
                         "is reserved: the plugin sets it to the group name to find its servers")
        if len(meta) + PLUGIN_METADATA_KEYS > NOVA_MAX_METADATA_KEYS:
            issues.check("server_spec.metadata",
                         f"has {len(meta)} items; Nova accepts at most {NOVA_MAX_METADATA_KEYS} per server and the "
                         f"plugin adds up to {PLUGIN_METADATA_KEYS}, so at most "
                         f"{NOVA_MAX_METADATA_KEYS - PLUGIN_METADATA_KEYS} may be configured")
        if len(meta) + 1 > NOVA_DEFAULT_METADATA_QUOTA:
            issues.warn("server_spec.metadata",
                        f"has {len(meta)} items; with the plugin's own item that exceeds Nova's default quota of "
                        f"{NOVA_DEFAULT_METADATA_QUOTA} metadata items per server")


def _check_misc_spec(spec: dict[str, Any], issues: _Issues) -> None:
    ud = spec.get("user_data")
    if isinstance(ud, str) and _looks_base64_encoded(ud):
        issues.warn("server_spec.user_data", "looks base64-encoded: write the plain text (cloud-config, Ignition "
                                             "JSON, script...); the plugin encodes it, so it would be encoded twice")
    if isinstance(ud, str):
        try:
            size = len(encode_user_data(ud))
        except ValueError as exc:
            issues.check("server_spec.user_data", str(exc).split(": ", 1)[1])
            return
        if size > NOVA_USER_DATA_MAX:
            issues.check("server_spec.user_data",
                         f"is {size} bytes after base64 encoding; Nova's limit is {NOVA_USER_DATA_MAX} "
                         f"(about {NOVA_USER_DATA_MAX * 3 // 4} bytes of text)")
        elif size > NOVA_USER_DATA_MAX - 4096:
            issues.warn("server_spec.user_data",
                        f"is {size} bytes after base64 encoding, close to Nova's limit of {NOVA_USER_DATA_MAX}: "
                        "a boot strategy that adds an SSH key may push it over")
    for key in ("min_count", "max_count"):
        value = spec.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 1:
            issues.check(f"server_spec.{key}", f"must be 1 (got {value}): the plugin creates one server per request "
                                               "and tracks each; scale with the runner's [runners.autoscaler] settings")
    mn, mx = spec.get("min_count"), spec.get("max_count")
    if isinstance(mn, int) and isinstance(mx, int) and mn > mx:
        issues.check("server_spec.min_count", f"must not exceed max_count ({mn} > {mx})")
    for key in ("key_name", "availability_zone"):
        value = spec.get(key)
        if isinstance(value, str) and value and (value != value.strip() or not _is_printable_name(value)):
            issues.check(f"server_spec.{key}", "must be printable and not start or end with whitespace")
    desc = spec.get("description")
    if isinstance(desc, str) and not _is_printable_name(desc):
        issues.check("server_spec.description", "must contain only printable characters")


def _check_microversion_keys(spec: dict[str, Any], mv: tuple[int, int] | None, issues: _Issues) -> None:
    if mv is None:
        return
    configured = f"2.{mv[1]}"
    for rule in MICROVERSION_REQUIREMENTS:
        if rule.allowed(mv):
            continue
        if rule.where == "server_spec":
            if rule.key in spec:
                issues.check(f"server_spec.{rule.key}",
                             f"needs nova_microversion {rule.minimum} or later (configured: {configured})")
            continue
        list_key = rule.where[len("server_spec."):-2]
        items = spec.get(list_key)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and rule.key in item:
                issues.check(f"server_spec.{list_key}[{i}].{rule.key}",
                             f"needs nova_microversion {rule.minimum} or later (configured: {configured})")


def _duration_value(doc: Mapping[str, Any], path: str, issues: _Issues, *, positive: bool) -> float | None:
    parts = path.split(".")
    node: Any = doc
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, str) or issues.blocked(path):
        return None
    try:
        seconds = parse_duration(node)
    except ValueError as exc:
        issues.check(path, str(exc))
        return None
    if seconds < 0:
        issues.check(path, "must not be negative")
        return None
    if positive and seconds == 0:
        issues.check(path, "must be greater than zero")
        return None
    return seconds


def _resolve_microversion(doc: dict[str, Any], env: Mapping[str, str], issues: _Issues) -> tuple[int, int] | None:
    value = doc.get("nova_microversion")
    if value is not None:
        if issues.blocked("nova_microversion"):
            return None
        try:
            return parse_microversion(value)
        except ValueError as exc:
            issues.check("nova_microversion", str(exc))
            return None
    from_env = (env.get("OS_COMPUTE_API_VERSION") or "").strip()
    if from_env:
        try:
            mv = parse_microversion(from_env)
        except ValueError:
            issues.warn("nova_microversion", f"environment OS_COMPUTE_API_VERSION={from_env!r} is not a 2.N "
                                             f"microversion; ignored, using {DEFAULT_NOVA_MICROVERSION}")
        else:
            doc["nova_microversion"] = from_env
            return mv
    doc["nova_microversion"] = DEFAULT_NOVA_MICROVERSION
    return parse_microversion(DEFAULT_NOVA_MICROVERSION)


#: Strings where line breaks and other control characters are legitimate.
_FREE_TEXT = re.compile(r"^(strategy_options\b.*|server_spec\.(user_data|adminPass|scheduler_hints\.query)"
                        r"|server_spec\.metadata\b.+)$")


def _check_control_chars(node: Any, path: str, issues: _Issues) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_control_chars(value, join_path(path, str(key)), issues)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_control_chars(value, join_path(path, i), issues)
    elif isinstance(node, str) and not _FREE_TEXT.match(path):
        if any(unicodedata.category(ch) == "Cc" for ch in node):
            issues.check(path, f"must not contain control characters such as line breaks or tabs (got {_short(node)})")


def _semantic_pass(doc: dict[str, Any], env: Mapping[str, str], issues: _Issues) -> dict[str, float | None]:
    _check_control_chars(doc, "", issues)
    mv = _resolve_microversion(doc, env, issues)
    durations = {
        "boot_time": _duration_value(doc, "boot_time", issues, positive=False),
        "build_timeout": _duration_value(doc, "build_timeout", issues, positive=True),
        "resync_interval": _duration_value(doc, "resync_interval", issues, positive=False),
        "api_timeout": _duration_value(doc, "api_timeout", issues, positive=True),
        "api_connect_timeout": _duration_value(doc, "api_connect_timeout", issues, positive=True),
        "retry_budget": _duration_value(doc, "retry_budget", issues, positive=False),
        "stale_states_limit": _duration_value(doc, "stale_states_limit", issues, positive=False),
        "create_backoff": _duration_value(doc, "create_backoff", issues, positive=False),
        "readiness.probe_timeout": _duration_value(doc, "readiness.probe_timeout", issues, positive=True),
    }
    strategy = doc.get("strategy")
    if isinstance(strategy, str):
        if strategy != strategy.strip():
            issues.check("strategy", "must not start or end with whitespace")
        if doc.get("use_ignition") is True and strategy != "ignition":
            issues.warn("use_ignition", f"is ignored: strategy = {strategy!r} is set (use_ignition = true only "
                                        "selects the \"ignition\" strategy when strategy is unset)")
    if doc.get("auth_from_env") is True and doc.get("cloud"):
        issues.warn("cloud", "is ignored: auth_from_env = true authenticates from the OS_* environment variables")
    max_size = doc.get("max_size") if isinstance(doc.get("max_size"), int) else 1000

    spec = doc.get("server_spec")
    if isinstance(spec, dict):
        _check_name_template(spec, issues)
        _check_image_flavor(spec, issues)
        _check_networks(spec, mv, max_size, issues)
        _check_security_groups(spec, issues)
        _check_scheduler_hints(spec, issues)
        _check_block_devices(spec, issues)
        _check_tags_metadata(doc, spec, issues)
        _check_misc_spec(spec, issues)
        _check_microversion_keys(spec, mv, issues)
        address = doc.get("address")
        if isinstance(address, Mapping):
            internal = address.get("internal_network")
            nets = spec.get("networks")
            if (_is_uuid(internal) and isinstance(nets, list) and nets
                    and all(isinstance(n, Mapping) and "port" not in n for n in nets)
                    and internal.lower() not in {str(n.get("uuid", "")).lower() for n in nets}):
                issues.warn("address.internal_network",
                            f"{internal!r} is not among server_spec.networks: servers will have no address on it")
    return durations


# --------------------------------------------------------------------------
# Pass 4: environment, and building the dataclasses
# --------------------------------------------------------------------------

def _apply_env(doc: dict[str, Any], env: Mapping[str, str], issues: _Issues) -> None:
    for key, var in (("cloud", "OS_CLOUD"), ("clouds_config", "OS_CLIENT_CONFIG_FILE")):
        value = env.get(var)
        if not value:
            continue
        configured = doc.get(key)
        if configured not in (None, "") and configured != value:
            issues.warn(key, f"overridden by environment variable {var}: using {value!r} instead of {configured!r}")
        doc[key] = value


def _build(doc: dict[str, Any], env: Mapping[str, str], durations: Mapping[str, float | None]) -> PluginConfig:
    readiness_doc = doc.get("readiness") or {}
    creds_doc = doc.get("credentials") or {}
    addr_doc = doc.get("address") or {}
    use_ignition = bool(doc.get("use_ignition", False))
    probe_timeout = durations.get("readiness.probe_timeout")
    build_timeout = durations.get("build_timeout")
    state_dir = creds_doc.get("state_dir")
    state_dir = os.path.expanduser(state_dir) if state_dir else default_state_dir(env)
    cloud = doc.get("cloud") or None
    clouds_config = doc.get("clouds_config")
    return PluginConfig(
        name=doc["name"],
        server_spec=ServerSpec(types.MappingProxyType(copy.deepcopy(doc["server_spec"]))),
        cloud=cloud,
        clouds_config=os.path.expanduser(clouds_config) if clouds_config else None,
        auth_from_env=bool(doc.get("auth_from_env", False)),
        nova_microversion=doc["nova_microversion"],
        boot_time=durations.get("boot_time"),
        use_ignition=use_ignition,
        strategy=doc.get("strategy") or ("ignition" if use_ignition else "cloud-init"),
        strategy_options=types.MappingProxyType(copy.deepcopy(doc.get("strategy_options") or {})),
        build_timeout=1800.0 if build_timeout is None else build_timeout,
        max_size=int(doc.get("max_size", 1000)),
        resync_interval=600.0 if durations.get("resync_interval") is None else durations["resync_interval"],
        create_concurrency=int(doc.get("create_concurrency", 10)),
        delete_concurrency=int(doc.get("delete_concurrency", 20)),
        api_timeout=durations.get("api_timeout"),
        api_connect_timeout=_or(durations.get("api_connect_timeout"), 10.0),
        retry_budget=_or(durations.get("retry_budget"), 30.0),
        stale_states_limit=_or(durations.get("stale_states_limit"), 600.0),
        create_backoff=_or(durations.get("create_backoff"), 300.0),
        flavor_fallbacks=tuple(doc.get("flavor_fallbacks") or ()),
        availability_zone_fallbacks=tuple(doc.get("availability_zone_fallbacks") or ()),
        floating_ip_pool=doc.get("floating_ip_pool") or None,
        log_level=doc.get("log_level"),
        readiness=ReadinessConfig(
            console_lines=int(readiness_doc.get("console_lines", 100)),
            on_boot_timeout=readiness_doc.get("on_boot_timeout", "running"),
            probe=readiness_doc.get("probe", "none"),
            probe_port=int(readiness_doc.get("probe_port", 22)),
            probe_timeout=3.0 if probe_timeout is None else probe_timeout,
        ),
        credentials=CredentialsConfig(state_dir=state_dir, key_type=creds_doc.get("key_type", "auto")),
        address=AddressConfig(
            internal_network=addr_doc.get("internal_network"),
            external_network=addr_doc.get("external_network"),
            ip_version=int(addr_doc.get("ip_version", 4)),
        ),
        metrics_listen=(doc.get("metrics") or {}).get("listen") or None,
        user_data_file=doc.get("user_data_file"),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _parse_raw(raw: bytes | str | Mapping[str, Any] | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return copy.deepcopy(dict(raw))
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigIssue("", f"plugin_config is not valid UTF-8: {exc}")]) from None
    if not isinstance(raw, str):
        raise ConfigError([ConfigIssue("", f"plugin_config must be JSON text or an object, got {_describe(raw)}")])
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError([ConfigIssue("", f"plugin_config is not valid JSON: {exc.msg} at line {exc.lineno} "
                                           f"column {exc.colno}")]) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([ConfigIssue("", f"plugin_config must be an object (table), got {_describe(doc)}")])
    return doc


def _read_user_data_file(doc: dict[str, Any], issues: _Issues) -> None:
    """``user_data_file``: its text becomes ``server_spec.user_data``, so every check of an
    inline user_data (size, base64, the strategy's own) applies to it unchanged."""
    path = doc.get("user_data_file")
    if not isinstance(path, str) or not path:
        return  # the schema reports a wrong type
    path = os.path.expanduser(path)
    doc["user_data_file"] = path
    spec = doc.get("server_spec")
    if isinstance(spec, dict) and spec.get("user_data") is not None:
        issues.error("user_data_file", "set either user_data_file or server_spec.user_data, not both")
        return
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as exc:
        issues.error("user_data_file", f"cannot read {path}: {exc.strerror or exc}")
        return
    except UnicodeDecodeError:
        issues.error("user_data_file", f"{path} is not UTF-8 text")
        return
    if isinstance(spec, dict):
        spec["user_data"] = text


def load_plugin_config(raw: bytes | str | Mapping[str, Any] | None,
                       *, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Parse, normalise and validate plugin_config.

    ``raw``: the JSON gitlab-runner sends (bytes or str), or a decoded dict
    (e.g. from tomllib); it is not modified.  ``env``: environment for the
    overrides (default ``os.environ``; see the module docstring for the
    precedence).  Returns the config and its warnings; raises
    :class:`ConfigError` with all errors (and the warnings) otherwise.
    """
    env = os.environ if env is None else env
    doc = _parse_raw(raw)
    issues = _Issues()
    doc = _normalise(doc, issues)
    _read_user_data_file(doc, issues)
    _schema_pass(doc, issues)
    durations = _semantic_pass(doc, env, issues)
    _apply_env(doc, env, issues)
    errors, warnings = issues.finish()
    if errors:
        raise ConfigError(errors, warnings)
    return LoadedConfig(_build(doc, env, durations), tuple(warnings))
