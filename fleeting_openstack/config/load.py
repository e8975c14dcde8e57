"""The pipeline from plugin_config as the runner sends it to a :class:`~.model.PluginConfig`.

``load_plugin_config(raw)`` turns the ``[runners.autoscaler.plugin_config]``
table (JSON bytes/str as gitlab-runner sends it, or an already-decoded dict)
into a frozen :class:`~.model.PluginConfig`, or raises
:class:`~.issues.ConfigError` listing *every* problem at once, each with its
JSON path. Each step returns a new document; the one given is never changed:

1. parse the JSON;
2. :func:`.compat.normalise`: the spellings the original Go plugin accepted,
   each with a warning;
3. ``user_data_file``: its text becomes ``server_spec.user_data``;
4. :func:`.schema.check`: the JSON Schema (``.schema`` the module: the package's
   ``schema`` is the function that returns the schema itself);
5. :func:`.rules.check`: Nova's own rules and the cross-field checks
   (check-only; they also work out the durations and the microversion);
6. :func:`.compat.canonical_forms`, then the environment overrides;
7. build the dataclasses: only what the document sets is passed, the rest
   are the dataclasses' defaults.

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

import copy
import json
import os
import threading
import types
from collections.abc import Mapping
from typing import Any

from fleeting_openstack.config import compat, rules
from fleeting_openstack.config.issues import ConfigError, ConfigIssue, IssueCollector
from fleeting_openstack.config.model import (
    AddressConfig,
    CredentialsConfig,
    LoadedConfig,
    PluginConfig,
    ReadinessConfig,
    ServerSpec,
    default_state_dir,
)
from fleeting_openstack.config.schema import check as check_schema
from fleeting_openstack.config.schema import describe_type

__all__ = ["load_plugin_config", "parse_document"]


def parse_document(raw: bytes | str | Mapping[str, Any] | None) -> dict[str, Any]:
    """plugin_config as a new dict: JSON text decoded, a mapping copied; nothing (or ``null``) is ``{}``.

    :raises ConfigError: not UTF-8, not JSON, or not an object.
    """
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
        raise ConfigError([ConfigIssue("", f"plugin_config must be JSON text or an object, got {describe_type(raw)}")])
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [ConfigIssue("", f"plugin_config is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError([ConfigIssue("", f"plugin_config must be an object (table), got {describe_type(doc)}")])
    return doc


def _with_user_data_file(document: Mapping[str, Any], issues: IssueCollector) -> dict[str, Any]:
    """``user_data_file``: its text becomes ``server_spec.user_data``, so every check of an
    inline user_data (size, base64, the strategy's own) applies to it unchanged."""
    path = document.get("user_data_file")
    if not isinstance(path, str) or not path:
        return dict(document)  # the schema reports a wrong type
    doc = copy.deepcopy(dict(document))
    path = os.path.expanduser(path)
    doc["user_data_file"] = path
    spec = doc.get("server_spec")
    if isinstance(spec, dict) and spec.get("user_data") is not None:
        issues.error("user_data_file", "set either user_data_file or server_spec.user_data, not both")
        return doc
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as exc:
        issues.error("user_data_file", f"cannot read {path}: {exc.strerror or exc}")
        return doc
    except UnicodeDecodeError:
        issues.error("user_data_file", f"{path} is not UTF-8 text")
        return doc
    if isinstance(spec, dict):
        spec["user_data"] = text
    return doc


def _from_file(doc: Mapping[str, Any]) -> bool:
    """The user_data came from user_data_file (which was read, and server_spec.user_data was unset)."""
    spec = doc.get("server_spec")
    return bool(doc.get("user_data_file")) and isinstance(spec, Mapping) and isinstance(spec.get("user_data"), str)


def _moved(issue: ConfigIssue) -> ConfigIssue:
    """An issue of ``server_spec.user_data`` at ``user_data_file``, where the operator wrote it."""
    if issue.path == "server_spec.user_data":
        return ConfigIssue("user_data_file", issue.message, issue.severity)
    return issue


def _with_environment(document: Mapping[str, Any], env: Mapping[str, str], issues: IssueCollector) -> dict[str, Any]:
    """``OS_CLOUD`` and ``OS_CLIENT_CONFIG_FILE`` override ``cloud`` and ``clouds_config``."""
    doc = dict(document)
    for key, var in (("cloud", "OS_CLOUD"), ("clouds_config", "OS_CLIENT_CONFIG_FILE")):
        value = env.get(var)
        if not value:
            continue
        configured = doc.get(key)
        if configured not in (None, "") and configured != value:
            issues.warn(key, f"overridden by environment variable {var}: using {value!r} instead of {configured!r}")
        doc[key] = value
    return doc


#: The longest single wait (a socket or lock timeout) the plugin uses: Python's timers overflow
#: near Go's largest duration, so a longer api_timeout, api_connect_timeout or probe_timeout is
#: this (106 days: no call waits that long in practice).
WAIT_MAX = float(int(threading.TIMEOUT_MAX) // 1000)
_WAITS = frozenset({"api_connect_timeout", "probe_timeout"})


def _build(doc: Mapping[str, Any], env: Mapping[str, str], findings: rules.Findings) -> PluginConfig:
    """The dataclasses of a checked document: what it sets, and the dataclasses' defaults for the rest."""
    durations = findings.durations
    settings: dict[str, Any] = {}

    def duration(key: str, path: str | None = None, into: dict[str, Any] = settings) -> None:
        value = durations.get(path or key)
        if value is not None:
            into[key] = min(value, WAIT_MAX) if key in _WAITS else value

    for key in ("max_size", "create_concurrency", "delete_concurrency"):
        if key in doc:
            settings[key] = int(doc[key])
    for key in (
        "build_timeout",
        "resync_interval",
        "api_connect_timeout",
        "retry_budget",
        "stale_states_limit",
        "create_backoff",
    ):
        duration(key)
    use_ignition = bool(doc.get("use_ignition", False))
    if "use_ignition" in doc:
        settings["use_ignition"] = use_ignition
    if "auth_from_env" in doc:
        settings["auth_from_env"] = bool(doc["auth_from_env"])
    if doc.get("strategy"):
        settings["strategy"] = doc["strategy"]
    elif use_ignition:
        settings["strategy"] = "ignition"
    if doc.get("strategy_options"):
        settings["strategy_options"] = types.MappingProxyType(copy.deepcopy(doc["strategy_options"]))
    for key in ("flavor_fallbacks", "availability_zone_fallbacks"):
        if doc.get(key):
            settings[key] = tuple(doc[key])

    readiness_doc = doc.get("readiness") or {}
    readiness: dict[str, Any] = {}
    for key in ("console_lines", "probe_port"):
        if key in readiness_doc:
            readiness[key] = int(readiness_doc[key])
    for key in ("on_boot_timeout", "probe"):
        if key in readiness_doc:
            readiness[key] = readiness_doc[key]
    duration("probe_timeout", "readiness.probe_timeout", readiness)

    creds_doc = doc.get("credentials") or {}
    state_dir = creds_doc.get("state_dir")
    credentials: dict[str, Any] = {"state_dir": os.path.expanduser(state_dir) if state_dir else default_state_dir(env)}
    if "key_type" in creds_doc:
        credentials["key_type"] = creds_doc["key_type"]

    addr_doc = doc.get("address") or {}
    address: dict[str, Any] = {key: addr_doc.get(key) for key in ("internal_network", "external_network")}
    if "ip_version" in addr_doc:
        address["ip_version"] = int(addr_doc["ip_version"])

    clouds_config = doc.get("clouds_config")
    api_timeout = durations.get("api_timeout")
    assert findings.nova_microversion is not None  # an invalid one is an error: no build
    return PluginConfig(
        name=doc["name"],
        server_spec=ServerSpec(types.MappingProxyType(copy.deepcopy(doc["server_spec"]))),
        cloud=doc.get("cloud") or None,
        clouds_config=os.path.expanduser(clouds_config) if clouds_config else None,
        nova_microversion=findings.nova_microversion,
        boot_time=durations.get("boot_time"),
        api_timeout=None if api_timeout is None else min(api_timeout, WAIT_MAX),
        floating_ip_pool=doc.get("floating_ip_pool") or None,
        log_level=doc.get("log_level"),
        readiness=ReadinessConfig(**readiness),
        credentials=CredentialsConfig(**credentials),
        address=AddressConfig(**address),
        metrics_listen=(doc.get("metrics") or {}).get("listen") or None,
        user_data_file=doc.get("user_data_file"),
        **settings,
    )


def load_plugin_config(
    raw: bytes | str | Mapping[str, Any] | None, *, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Parse, normalise and validate plugin_config.

    ``raw``: the JSON gitlab-runner sends (bytes or str), or a decoded dict
    (e.g. from tomllib); it is not modified.  ``env``: environment for the
    overrides (default ``os.environ``; see the module docstring for the
    precedence).  Returns the config and its warnings; raises
    :class:`ConfigError` with all errors (and the warnings) otherwise.
    """
    env = os.environ if env is None else env
    issues = IssueCollector()
    doc = compat.normalise(parse_document(raw), issues)
    doc = _with_user_data_file(doc, issues)
    check_schema(doc, issues)
    findings = rules.check(doc, env, issues)
    doc = _with_environment(compat.canonical_forms(doc), env, issues)
    errors, warnings = issues.finish()
    if _from_file(doc) and not any(e.path == "user_data_file" for e in errors):
        # the operator wrote the user_data in user_data_file: report it there
        errors = [_moved(e) for e in errors]
        warnings = [_moved(w) for w in warnings]
    if errors:
        raise ConfigError(errors, warnings)
    return LoadedConfig(_build(doc, env, findings), tuple(warnings))
