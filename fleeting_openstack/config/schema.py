"""plugin_config's JSON Schema: loading it, and turning its errors into issues people understand.

``schemas/plugin_config.schema.json`` (draft 2020-12) states types, enums,
ranges and patterns, and is also the source of docs/configuration.md. This
module loads it once, runs it over a (normalised) document, and rewrites each
jsonschema error as a :class:`~.issues.ConfigIssue` in plain words: an unknown
key gets a "did you mean ...?" or the section it belongs in, an ``anyOf``
names the types it accepts.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.resources
import json
import re
from collections.abc import Mapping, Sequence

import jsonschema

from fleeting_openstack.config.issues import ConfigIssue, IssueCollector, format_path, join_path
from fleeting_openstack.jsontypes import JSONObject, JSONValue

__all__ = [
    "canonical_keys",
    "check",
    "closest",
    "describe_type",
    "schema",
    "section_schemas",
    "short_repr",
]


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _schema() -> JSONObject:
    text = (
        importlib.resources.files("fleeting_openstack.schemas")
        .joinpath("plugin_config.schema.json")
        .read_text(encoding="utf-8")
    )
    document: JSONObject = json.loads(text)
    return document


def schema() -> JSONObject:
    """The JSON Schema (draft 2020-12) of plugin_config, as a fresh dict."""
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(_schema(), format_checker=cls.FORMAT_CHECKER)


def _def(name: str) -> JSONObject:
    defs = _schema()["$defs"]
    definition = defs.get(name) if isinstance(defs, dict) else None
    assert isinstance(definition, dict), f"no $defs/{name} in the schema"  # the shipped schema has it
    return definition


def _properties(section_schema: Mapping[str, JSONValue]) -> JSONObject:
    """The ``properties`` of a schema object ({} when it has none)."""
    props = section_schema.get("properties")
    return props if isinstance(props, dict) else {}


def canonical_keys(section_schema: Mapping[str, JSONValue]) -> list[str]:
    """Property names of a schema object, without the deprecated ones."""
    return [k for k, v in _properties(section_schema).items() if not (isinstance(v, dict) and v.get("deprecated"))]


def section_schemas() -> dict[str, JSONObject]:
    """The schema of each section whose keys are normalised ("" is the top level, ``[]`` list items)."""
    return {
        "": _schema(),
        "server_spec": _def("server_spec"),
        "server_spec.networks[]": _def("network"),
        "server_spec.scheduler_hints": _def("scheduler_hints"),
        "server_spec.block_device_mapping_v2[]": _def("block_device"),
    }


# --------------------------------------------------------------------------
# Unknown-key suggestions
# --------------------------------------------------------------------------

_CONNECTOR_KEYS = (
    "os",
    "arch",
    "protocol",
    "protocol_port",
    "username",
    "password",
    "key_path",
    "use_static_credentials",
    "keepalive",
    "timeout",
    "use_external_addr",
)
_AUTOSCALER_KEYS = (
    "capacity_per_instance",
    "max_use_count",
    "max_instances",
    "plugin",
    "delete_instances_on_shutdown",
    "instance_ready_command",
    "policy",
    "connector_config",
    "plugin_config",
    "state_storage",
    "vm_isolation",
)
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


def closest(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str | None:
    """The candidate ``word`` most likely meant (case, ``_``/``-``, typos, a unique prefix), or None."""
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
    if section == "" and key in _properties(_def("server_spec")):
        return f"unknown key {key!r}: it belongs inside server_spec"
    if section == "server_spec" and key in _properties(_schema()) and key != "name":
        return f"unknown key {key!r}: it belongs at the top level of plugin_config, not inside server_spec"
    suggestion = closest(key, candidates)
    if suggestion:
        return f"unknown key {key!r}; did you mean {suggestion!r}?"
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return f"unknown key {key!r} (known keys: {shown})"


def _section_of(path: str) -> str:
    """Schema section of a JSON path: ``server_spec.networks[3]`` -> ``server_spec.networks[]``."""
    return re.sub(r"\[\d+\]", "[]", path)


# --------------------------------------------------------------------------
# jsonschema errors -> issues
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


def describe_type(value: object) -> str:
    """The JSON type of ``value`` in a word (``"list"``, ``"object"``, ``"integer"``...)."""
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


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _branch_types(schema_: Mapping[str, JSONValue]) -> list[str]:
    ref = schema_.get("$ref")
    if isinstance(ref, str):
        if ref.startswith("#/$defs/"):
            schema_ = {**_def(ref.split("/")[-1]), **{k: v for k, v in schema_.items() if k != "$ref"}}
    t = schema_.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [str(x) for x in t]
    if "const" in schema_ or "enum" in schema_:
        values = schema_.get("enum", [schema_.get("const")])
        return [json.dumps(v) for v in values] if isinstance(values, list) else []
    return []


def _json(value: object) -> JSONValue:
    """A part of the document or of the schema, as jsonschema hands it over (typed ``Any | Unset``)."""
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def _size(value: JSONValue) -> int:
    """The length of a string, list or object (what the length and item validators measure)."""
    return len(value) if isinstance(value, (str, list, dict)) else 0


def _convert_error(err: jsonschema.ValidationError) -> list[ConfigIssue]:
    path = format_path(err.absolute_path)
    v = err.validator
    sch: JSONObject = err.schema if isinstance(err.schema, dict) else {}
    message = sch.get("errorMessage")
    custom = message if isinstance(message, str) else None
    # The instance is a part of the (JSON) document; the validator's value a part of the schema.
    inst = _json(err.instance)
    # jsonschema types it ``Any | Unset``; it is set on every error a validator reports.
    value = _json(err.validator_value)
    listed = value if isinstance(value, list) else [value]

    if "propertyNames" in err.schema_path or "propertyNames" in err.absolute_schema_path:
        # err.instance is the offending key; the path is its object's.
        return [ConfigIssue(join_path(path, str(inst)), custom or f"invalid key {inst!r}")]

    if v == "additionalProperties" and isinstance(inst, Mapping):
        props = _properties(sch)
        pattern_props = sch.get("patternProperties")
        patterns = list(pattern_props) if isinstance(pattern_props, dict) else []
        candidates = canonical_keys(sch)
        section = _section_of(path)
        out = []
        for key in inst:
            if key in props or any(re.search(p, str(key)) for p in patterns):
                continue
            out.append(ConfigIssue(join_path(path, str(key)), _unknown_key_message(section, str(key), candidates)))
        return out

    if v == "required" and isinstance(inst, Mapping):
        return [ConfigIssue(join_path(path, str(k)), "is required") for k in listed if k not in inst]

    if v in ("anyOf", "oneOf"):
        groups: dict[str | int, list[jsonschema.ValidationError]] = {}
        for sub in err.context or ():
            groups.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [
            i for i, subs in groups.items() if not any(s.validator == "type" and not s.relative_path for s in subs)
        ]
        if len(matching) == 1:
            subs = groups[matching[0]]
            if any(s.relative_path for s in subs) or not custom:
                out = []
                for s in subs:
                    out.extend(_convert_error(s))
                return out
        if custom:
            return [ConfigIssue(path, f"{custom} (got {short_repr(inst)})")]
        if not matching:
            kinds: list[str] = []
            for branch in listed:
                for t in _branch_types(branch if isinstance(branch, dict) else {}):
                    if t not in kinds:
                        kinds.append(t)
            if kinds:
                return [ConfigIssue(path, f"must be {_types_phrase(kinds)}, got {describe_type(inst)}")]
        return [ConfigIssue(path, f"{short_repr(inst)} is not valid here")]

    if v == "type":
        expected = [str(t) for t in listed]
        return [ConfigIssue(path, f"must be {_types_phrase(expected)}, got {describe_type(inst)}")]

    if custom and v in ("pattern", "format", "enum", "const"):
        return [ConfigIssue(path, f"{custom} (got {short_repr(inst)})")]

    if v in ("enum", "const"):
        allowed = listed if v == "enum" else [value]
        shown = ", ".join(json.dumps(a) for a in allowed)
        msg = f"must be one of {shown} (got {short_repr(inst)})"
        if isinstance(inst, str):
            guess = closest(inst, [a for a in allowed if isinstance(a, str)])
            if guess is not None and guess != inst:
                msg += f"; did you mean {guess!r}?"
        return [ConfigIssue(path, msg)]
    if v == "minimum":
        return [ConfigIssue(path, f"must be at least {value} (got {short_repr(inst)})")]
    if v == "maximum":
        return [ConfigIssue(path, f"must be at most {value} (got {short_repr(inst)})")]
    if v == "minLength":
        if value == 1:
            return [ConfigIssue(path, "must not be empty")]
        return [ConfigIssue(path, f"must be at least {value} characters long")]
    if v == "maxLength":
        return [ConfigIssue(path, f"must be at most {value} characters long (got {_size(inst)})")]
    if v == "minItems":
        if value == 1:
            return [ConfigIssue(path, "must not be an empty list")]
        return [ConfigIssue(path, f"must have at least {value} items (got {_size(inst)})")]
    if v == "maxItems":
        return [ConfigIssue(path, f"must have at most {value} items (got {_size(inst)})")]
    if v == "uniqueItems":
        return [ConfigIssue(path, "must not contain duplicates")]
    if v == "pattern":
        return [ConfigIssue(path, f"must match the pattern {value} (got {short_repr(inst)})")]
    if v == "format":
        return [ConfigIssue(path, f"must be a valid {value} (got {short_repr(inst)})")]
    return [ConfigIssue(path, err.message)]


def check(doc: Mapping[str, JSONValue], issues: IssueCollector) -> None:
    """Run the schema over ``doc``; its errors go to ``issues`` (as schema errors: later checks of
    the same spot stay quiet)."""
    found: list[tuple[ConfigIssue, bool]] = []
    for err in _validator().iter_errors(doc):
        is_type = err.validator == "type"
        found.extend((issue, is_type) for issue in _convert_error(err))
    # A wrong type makes the other complaints about the same value noise.
    typed = {issue.path for issue, is_type in found if is_type}
    for issue, is_type in found:
        if is_type or issue.path not in typed:
            issues.schema_error(issue)
