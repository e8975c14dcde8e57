"""Compatibility: every normalisation of a plugin_config, each returning a new document.

The original Go plugin accepted spellings this plugin still accepts, with a
warning: :data:`DEPRECATIONS` is the one table of them (renamed keys, string
booleans, an empty string for "not set", the old scheduler-hint forms), and
keys are matched case-insensitively in the sections the Go plugin decoded
with ``encoding/json``. :func:`normalise` applies them before the schema
looks at the document; :func:`canonical_forms` turns the remaining accepted
value forms into the one form the plugin uses (``security_groups`` strings ->
``{"name": ...}``, an integer ``flavorRef`` -> a string) once the document is
known to be valid. Neither changes the document it is given.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fleeting_openstack.config.issues import IssueCollector, join_path
from fleeting_openstack.config.schema import canonical_keys, section_schemas
from fleeting_openstack.jsontypes import JSONObject, JSONValue

__all__ = ["CASE_INSENSITIVE_SECTIONS", "DEPRECATIONS", "Deprecation", "canonical_forms", "normalise"]


# --------------------------------------------------------------------------
# Deprecated spellings: THE table
# --------------------------------------------------------------------------


def _bool_from_string(value: JSONValue) -> JSONObject | None:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return {"use_ignition": value.strip().lower() == "true"}
    return None


def _query_from_array(value: JSONValue) -> JSONObject | None:
    if isinstance(value, list):
        return {"query": json.dumps(value)}
    return None


def _split_build_near_host_ip(value: JSONValue) -> JSONObject | None:
    if not isinstance(value, str):
        return None
    ip, sep, prefix = value.partition("/")
    out: JSONObject = {"build_near_host_ip": ip}
    if sep:
        out["cidr"] = "/" + prefix
    return out


def _empty_means_unset(value: JSONValue) -> JSONObject | None:
    return {} if value == "" else None


def _merge_hints(value: JSONValue) -> JSONObject | None:
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
    convert: Callable[[JSONValue], JSONObject | None] | None = None  # {} drops the key

    @property
    def renames(self) -> bool:
        return self.key != self.replacement

    def apply(self, value: JSONValue) -> JSONObject | None:
        if self.convert is None:
            return {self.replacement: value}
        return self.convert(value)


DEPRECATIONS: tuple[Deprecation, ...] = (
    Deprecation(
        "",
        "use_ignition",
        "use_ignition",
        'a string ("true"/"false", as the original README\'s table said) is deprecated: write a boolean, '
        "use_ignition = true",
        _bool_from_string,
    ),
    Deprecation(
        "",
        "boot_time",
        "boot_time",
        'an empty string means "not set" (as in the original plugin); remove the key',
        _empty_means_unset,
    ),
    Deprecation(
        "",
        "nova_microversion",
        "nova_microversion",
        'an empty string means "not set" (the original plugin ignored it); remove the key',
        _empty_means_unset,
    ),
    Deprecation(
        "",
        "clouds_config",
        "clouds_config",
        'an empty string means "not set" (as in the original plugin); remove the key',
        _empty_means_unset,
    ),
    Deprecation(
        "server_spec.networks[]",
        "fixedip",
        "fixed_ip",
        "the original plugin read only 'fixedip' and silently dropped Nova's 'fixed_ip'",
    ),
    Deprecation(
        "server_spec.scheduler_hints",
        "differentHost",
        "different_host",
        "the original plugin's spelling; Nova's is 'different_host'",
    ),
    Deprecation(
        "server_spec.scheduler_hints", "sameHost", "same_host", "the original plugin's spelling; Nova's is 'same_host'"
    ),
    Deprecation(
        "server_spec.scheduler_hints",
        "buildNearHostIP",
        "build_near_host_ip",
        'the original plugin\'s "IP/prefix" form; Nova takes build_near_host_ip and cidr separately',
        _split_build_near_host_ip,
    ),
    Deprecation(
        "server_spec.scheduler_hints",
        "additionalProperties",
        "<custom hints>",
        "the original plugin's catch-all map; write custom hints directly in scheduler_hints",
        _merge_hints,
    ),
    Deprecation(
        "server_spec.scheduler_hints",
        "query",
        "query",
        "the original plugin's array form is deprecated: write the JsonFilter query as a JSON string",
        _query_from_array,
    ),
)

#: Sections the Go plugin decoded with encoding/json (case-insensitive keys).
CASE_INSENSITIVE_SECTIONS = frozenset(
    [
        "",
        "server_spec",
        "server_spec.networks[]",
        "server_spec.scheduler_hints",
        "server_spec.block_device_mapping_v2[]",
    ]
)


# --------------------------------------------------------------------------
# Normalisation: before the schema
# --------------------------------------------------------------------------


def _normalise_section(obj: JSONObject, section: str, path: str, issues: IssueCollector) -> JSONObject:
    sschema = section_schemas()[section]
    canonical = canonical_keys(sschema)
    deps = [d for d in DEPRECATIONS if d.section == section]
    out: JSONObject = {}
    origin: dict[str, str] = {}  # new key -> key it came from (for conflict messages)

    def put(key: str, value: JSONValue, source: str) -> None:
        if key in out:
            first = origin.get(key, key)
            issues.error(join_path(path, source), f"conflicts with {first!r} (both set {key!r}); remove one of them")
            return
        out[key] = value
        origin[key] = source

    # Canonical keys first, so that conflicts are reported on the deprecated spelling.
    ordered = sorted(obj.items(), key=lambda kv: 0 if kv[0] in canonical or not isinstance(kv[0], str) else 1)
    properties = sschema.get("properties")
    known = properties if isinstance(properties, dict) else {}
    for key, value in ordered:
        if not isinstance(key, str) or (key in known and key in canonical):
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
        if section in CASE_INSENSITIVE_SECTIONS:
            match = [c for c in canonical if c.lower() == key.lower()]
            if len(match) == 1:
                issues.warn(
                    join_path(path, key),
                    f"{key!r} accepted as {match[0]!r} (the original plugin matched keys "
                    f"case-insensitively); write {match[0]!r}",
                )
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


def normalise(document: Mapping[str, JSONValue], issues: IssueCollector) -> JSONObject:
    """``document`` with the deprecated spellings (:data:`DEPRECATIONS`) and case-only variants of
    known keys replaced, each reported as a warning in ``issues`` (a conflict as an error)."""
    doc = _normalise_section(copy.deepcopy(dict(document)), "", "", issues)
    spec = doc.get("server_spec")
    if isinstance(spec, dict):
        spec = _normalise_section(spec, "server_spec", "server_spec", issues)
        nets = spec.get("networks")
        if isinstance(nets, list):
            spec["networks"] = [
                _normalise_section(n, "server_spec.networks[]", f"server_spec.networks[{i}]", issues)
                if isinstance(n, dict)
                else n
                for i, n in enumerate(nets)
            ]
        hints = spec.get("scheduler_hints")
        if isinstance(hints, dict):
            spec["scheduler_hints"] = _normalise_section(
                hints, "server_spec.scheduler_hints", "server_spec.scheduler_hints", issues
            )
        bdms = spec.get("block_device_mapping_v2")
        if isinstance(bdms, list):
            spec["block_device_mapping_v2"] = [
                _normalise_section(
                    b, "server_spec.block_device_mapping_v2[]", f"server_spec.block_device_mapping_v2[{i}]", issues
                )
                if isinstance(b, dict)
                else b
                for i, b in enumerate(bdms)
            ]
        doc["server_spec"] = spec
    return doc


# --------------------------------------------------------------------------
# Canonical forms: after the checks
# --------------------------------------------------------------------------


def canonical_forms(document: Mapping[str, JSONValue]) -> JSONObject:
    """A copy of a checked ``document`` in the one form the plugin uses: ``security_groups``
    items as ``{"name": ...}`` objects, an integer ``flavorRef`` as a string."""
    doc = copy.deepcopy(dict(document))
    spec = doc.get("server_spec")
    if not isinstance(spec, dict):
        return doc
    if isinstance(spec.get("flavorRef"), int) and not isinstance(spec.get("flavorRef"), bool):
        spec["flavorRef"] = str(spec["flavorRef"])
    groups = spec.get("security_groups")
    if isinstance(groups, list):
        normalised: list[JSONValue] = []
        for g in groups:
            name = g if isinstance(g, str) else g.get("name") if isinstance(g, Mapping) else None
            normalised.append({"name": name} if isinstance(name, str) else g)
        spec["security_groups"] = normalised
    return doc
