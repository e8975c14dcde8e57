"""Nova's own rules for a create request, and the cross-field checks, run offline.

After the JSON Schema: image/flavor choice, boot from volume, network items,
security groups, scheduler hints, tags, metadata, user_data size after
base64, min/max count, keys that need a newer ``nova_microversion``, the
server name template, control characters, durations. Every rule only adds
issues: none changes the document (value forms are made canonical by
:func:`.compat.canonical_forms`, defaults and the environment are applied by
:mod:`.load`). :func:`check` returns what the rules worked out on the way
(the durations in seconds and the effective microversion) so that nothing is
parsed twice.

Nova's rules on ``server_spec`` are :mod:`.novarules`; this module runs them with the rest.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from fleeting_openstack.config import microversions, novarules
from fleeting_openstack.config.issues import IssueCollector, join_path
from fleeting_openstack.config.model import (
    PluginConfig,
)
from fleeting_openstack.config.schema import short_repr
from fleeting_openstack.godurations import parse_duration
from fleeting_openstack.jsontypes import JSONValue

__all__ = [
    "DURATIONS",
    "MINIMUMS",
    "Findings",
    "check",
]


def _duration_value(doc: Mapping[str, JSONValue], path: str, issues: IssueCollector, *, positive: bool) -> float | None:
    parts = path.split(".")
    node: object = doc
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


#: Strings where line breaks and other control characters are legitimate.
_FREE_TEXT = re.compile(
    r"^(strategy_options\b.*|server_spec\.(user_data|adminPass|scheduler_hints\.query)"
    r"|server_spec\.metadata\b.+)$"
)


def _check_control_chars(node: object, path: str, issues: IssueCollector) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_control_chars(value, join_path(path, str(key)), issues)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_control_chars(value, join_path(path, i), issues)
    elif isinstance(node, str) and not _FREE_TEXT.match(path):
        if any(unicodedata.category(ch) == "Cc" for ch in node):
            issues.check(
                path, f"must not contain control characters such as line breaks or tabs (got {short_repr(node)})"
            )


#: The duration settings, by JSON path, and whether zero is refused.
DURATIONS: dict[str, bool] = {
    "boot_time": False,
    "build_timeout": True,
    "resync_interval": False,
    "image_refresh": False,
    "api_timeout": True,
    "api_connect_timeout": True,
    "retry_budget": False,
    "stale_states_limit": False,
    "create_backoff": False,
    "readiness.probe_timeout": True,
}


#: Durations so short that the plugin cannot work, by JSON path: (error below, warning below, why).
#: Errors are values no cloud can meet; warnings are values a test cloud may be set up for.
MINIMUMS: dict[str, tuple[float, float, str]] = {
    "build_timeout": (
        10.0,
        60.0,
        "a server in BUILD longer than this is deleted, and Nova takes longer than that to build one; "
        'use the time your cloud needs, e.g. "30m" (the default)',
    ),
    "api_timeout": (
        1.0,
        2.0,
        'every OpenStack request that takes longer fails; use the default "60s" or at least "10s"',
    ),
    "api_connect_timeout": (
        0.1,
        1.0,
        'every connection that takes longer to open fails; use the default "10s"',
    ),
    "readiness.probe_timeout": (
        0.01,
        0.1,
        'no TCP or SSH probe completes that fast; use the default "3s"',
    ),
}


def _check_minimums(
    doc: Mapping[str, JSONValue], durations: Mapping[str, float | None], issues: IssueCollector
) -> None:
    for path, (error_below, warn_below, why) in MINIMUMS.items():
        seconds = durations.get(path)
        if seconds is None or seconds >= warn_below:
            continue
        head, _, key = path.rpartition(".")
        table = doc.get(head) if head else doc
        given = repr(table.get(key)) if isinstance(table, Mapping) else f"{seconds:g}s"
        if seconds < error_below:
            issues.check(path, f"{given} is too short: {why}")
        else:
            issues.warn(path, f"{given} is very short: {why}")


def _check_state_dir(doc: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    creds = doc.get("credentials")
    state_dir = creds.get("state_dir") if isinstance(creds, Mapping) else None
    if isinstance(state_dir, str) and state_dir and not state_dir.startswith(("/", "~")):
        issues.check(
            "credentials.state_dir",
            f"{state_dir!r} is a relative path: the runner starts the plugin in a working directory of its "
            'own, so the keys would land somewhere else each time; use an absolute path such as "/var/lib/'
            'fleeting-openstack"',
        )


def _check_metrics(doc: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    metrics = doc.get("metrics")
    listen = metrics.get("listen") if isinstance(metrics, Mapping) else None
    if not isinstance(listen, str) or issues.blocked("metrics.listen"):
        return
    port = listen.rpartition(":")[2]
    if port.isdigit() and not 0 < int(port) < 65536:
        issues.check(
            "metrics.listen",
            f'port {int(port)} is out of range: use a port from 1 to 65535, e.g. "127.0.0.1:9464" or ":9464"',
        )


@dataclass(frozen=True)
class Findings:
    """What the rules worked out: ``durations`` (path -> seconds, None where unset or invalid) and
    the effective ``nova_microversion`` (None when the configured one is invalid)."""

    durations: Mapping[str, float | None]
    nova_microversion: str | None


def check(doc: Mapping[str, JSONValue], env: Mapping[str, str], issues: IssueCollector) -> Findings:
    """Run every rule over ``doc`` (normalised, schema-checked); problems go to ``issues``."""
    _check_control_chars(doc, "", issues)
    resolved = microversions.resolve(doc, env, issues)
    mv = None if resolved is None else resolved[1]
    durations = {path: _duration_value(doc, path, issues, positive=positive) for path, positive in DURATIONS.items()}
    _check_minimums(doc, durations, issues)
    _check_state_dir(doc, issues)
    _check_metrics(doc, issues)
    strategy = doc.get("strategy")
    if isinstance(strategy, str):
        if strategy != strategy.strip():
            issues.check("strategy", "must not start or end with whitespace")
        if doc.get("use_ignition") is True and strategy != "ignition":
            issues.warn(
                "use_ignition",
                f"is ignored: strategy = {strategy!r} is set (use_ignition = true only "
                'selects the "ignition" strategy when strategy is unset)',
            )
    if doc.get("auth_from_env") is True and doc.get("cloud"):
        issues.warn("cloud", "is ignored: auth_from_env = true authenticates from the OS_* environment variables")
    configured_size = doc.get("max_size")
    max_size = configured_size if isinstance(configured_size, int) else PluginConfig.max_size

    spec = doc.get("server_spec")
    if isinstance(spec, dict):
        novarules.check_name_template(spec, issues)
        novarules.check_image_flavor(spec, issues)
        if doc.get("image_properties") and "image_name" not in spec:
            issues.check(
                "image_properties",
                "selects among the images named server_spec.image_name: set image_name (not imageRef)",
            )
        novarules.check_networks(spec, mv, max_size, issues)
        novarules.check_security_groups(spec, issues)
        novarules.check_scheduler_hints(spec, issues)
        novarules.check_block_devices(spec, issues)
        novarules.check_tags_metadata(doc, spec, issues)
        novarules.check_misc_spec(spec, issues)
        microversions.check_keys(spec, mv, issues)
        address = doc.get("address")
        if isinstance(address, Mapping):
            internal = address.get("internal_network")
            nets = spec.get("networks")
            if (
                isinstance(internal, str)
                and novarules.is_uuid(internal)
                and isinstance(nets, list)
                and nets
                and all(isinstance(n, dict) and "port" not in n for n in nets)
                and internal.lower() not in {str(n.get("uuid", "")).lower() for n in nets if isinstance(n, dict)}
            ):
                issues.warn(
                    "address.internal_network",
                    f"{internal!r} is not among server_spec.networks: servers will have no address on it",
                )
    return Findings(durations, None if resolved is None else resolved[0])
