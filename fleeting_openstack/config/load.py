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
from fleeting_openstack.jsontypes import JSONObject, JSONValue

__all__ = ["load_plugin_config", "parse_document"]


def parse_document(raw: object) -> JSONObject:
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


def _with_user_data_file(document: Mapping[str, JSONValue], issues: IssueCollector) -> JSONObject:
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


def _from_file(doc: Mapping[str, JSONValue]) -> bool:
    """The user_data came from user_data_file (which was read, and server_spec.user_data was unset)."""
    spec = doc.get("server_spec")
    return bool(doc.get("user_data_file")) and isinstance(spec, Mapping) and isinstance(spec.get("user_data"), str)


def _moved(issue: ConfigIssue) -> ConfigIssue:
    """An issue of ``server_spec.user_data`` at ``user_data_file``, where the operator wrote it."""
    if issue.path == "server_spec.user_data":
        return ConfigIssue("user_data_file", issue.message, issue.severity)
    return issue


def _with_environment(document: Mapping[str, JSONValue], env: Mapping[str, str], issues: IssueCollector) -> JSONObject:
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


def _object(value: JSONValue | None) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _text(value: JSONValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _whole(value: JSONValue | None, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) else default


def _texts(value: JSONValue | None) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _build(doc: Mapping[str, JSONValue], env: Mapping[str, str], findings: rules.Findings) -> PluginConfig:
    """The dataclasses of a checked document: what it sets, and the dataclasses' defaults for the rest."""
    durations = findings.durations

    def seconds(path: str, default: float) -> float:
        value = durations.get(path)
        if value is None:
            return default
        return min(value, WAIT_MAX) if path.rsplit(".", 1)[-1] in _WAITS else value

    use_ignition = bool(doc.get("use_ignition", False))
    strategy = _text(doc.get("strategy")) or ("ignition" if use_ignition else PluginConfig.strategy)
    strategy_options = _object(doc.get("strategy_options"))

    readiness_doc = _object(doc.get("readiness"))
    readiness = ReadinessConfig(
        console_lines=_whole(readiness_doc.get("console_lines"), ReadinessConfig.console_lines),
        on_boot_timeout=_text(readiness_doc.get("on_boot_timeout")) or ReadinessConfig.on_boot_timeout,
        probe=_text(readiness_doc.get("probe")) or ReadinessConfig.probe,
        probe_port=_whole(readiness_doc.get("probe_port"), ReadinessConfig.probe_port),
        probe_timeout=seconds("readiness.probe_timeout", ReadinessConfig.probe_timeout),
    )

    creds_doc = _object(doc.get("credentials"))
    state_dir = _text(creds_doc.get("state_dir"))
    credentials = CredentialsConfig(
        state_dir=os.path.expanduser(state_dir) if state_dir else default_state_dir(env),
        key_type=_text(creds_doc.get("key_type")) or CredentialsConfig.key_type,
    )

    addr_doc = _object(doc.get("address"))
    address = AddressConfig(
        internal_network=_text(addr_doc.get("internal_network")),
        external_network=_text(addr_doc.get("external_network")),
        ip_version=_whole(addr_doc.get("ip_version"), AddressConfig.ip_version),
    )

    clouds_config = _text(doc.get("clouds_config"))
    api_timeout = durations.get("api_timeout")
    name = _text(doc.get("name"))
    assert name is not None  # required by the schema: no build without it
    assert findings.nova_microversion is not None  # an invalid one is an error: no build
    return PluginConfig(
        name=name,
        server_spec=ServerSpec(types.MappingProxyType(copy.deepcopy(_object(doc.get("server_spec"))))),
        cloud=_text(doc.get("cloud")) or None,
        clouds_config=os.path.expanduser(clouds_config) if clouds_config else None,
        auth_from_env=bool(doc.get("auth_from_env", PluginConfig.auth_from_env)),
        nova_microversion=findings.nova_microversion,
        boot_time=durations.get("boot_time"),
        use_ignition=use_ignition,
        strategy=strategy,
        strategy_options=types.MappingProxyType(copy.deepcopy(strategy_options)),
        build_timeout=seconds("build_timeout", PluginConfig.build_timeout),
        max_size=_whole(doc.get("max_size"), PluginConfig.max_size),
        resync_interval=seconds("resync_interval", PluginConfig.resync_interval),
        image_refresh=seconds("image_refresh", PluginConfig.image_refresh),
        image_properties=types.MappingProxyType(
            {str(k): str(v) for k, v in _object(doc.get("image_properties")).items()}
        ),
        suspend_mode=_text(doc.get("suspend_mode")) or PluginConfig.suspend_mode,
        create_concurrency=_whole(doc.get("create_concurrency"), PluginConfig.create_concurrency),
        delete_concurrency=_whole(doc.get("delete_concurrency"), PluginConfig.delete_concurrency),
        api_timeout=None if api_timeout is None else min(api_timeout, WAIT_MAX),
        api_connect_timeout=seconds("api_connect_timeout", PluginConfig.api_connect_timeout),
        retry_budget=seconds("retry_budget", PluginConfig.retry_budget),
        stale_states_limit=seconds("stale_states_limit", PluginConfig.stale_states_limit),
        create_backoff=seconds("create_backoff", PluginConfig.create_backoff),
        flavor_fallbacks=_texts(doc.get("flavor_fallbacks")),
        availability_zone_fallbacks=_texts(doc.get("availability_zone_fallbacks")),
        floating_ip_pool=_text(doc.get("floating_ip_pool")) or None,
        log_level=_text(doc.get("log_level")),
        readiness=readiness,
        credentials=credentials,
        address=address,
        metrics_listen=_text(_object(doc.get("metrics")).get("listen")) or None,
        user_data_file=_text(doc.get("user_data_file")),
    )


def load_plugin_config(
    raw: bytes | str | Mapping[str, JSONValue] | None, *, env: Mapping[str, str] | None = None
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
