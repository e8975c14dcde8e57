"""Values in and out of the discovered messages: a model value read from, or written into, its mapped field.

The converters (Timestamp/Duration messages, integer seconds/milliseconds/nanoseconds, float seconds,
Go duration strings, a state as a string or an enum) follow the leaves :mod:`.mapping` found.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TypeAlias

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from fleeting_openstack.contract.kinds import BOOL, DURATION, INT, JSON, KEY, STATE, STR, STRLIST, TIMESTAMP
from fleeting_openstack.contract.mapping import FLOATS, Leaf, MessageMap

__all__ = [
    "ModelValue",
    "read",
    "read_bool",
    "read_bytes",
    "read_int",
    "read_seconds",
    "read_str",
    "read_strlist",
    "write",
]

#: A value of the plugin's model: its type follows the slot's kind (str for STR and STATE, bytes for
#: JSON and KEY, int for INT, bool for BOOL, seconds for DURATION and TIMESTAMP (None: no time),
#: strings for STRLIST).
ModelValue: TypeAlias = str | bytes | int | float | bool | Sequence[str] | None


def _seconds_per_unit(leaf: Leaf, kind: str) -> float:
    if leaf.unit is not None:
        return leaf.unit
    if leaf.field.type in FLOATS:
        return 1.0
    return 1e-9 if kind == DURATION else 1.0


def read(msg: Message, mm: MessageMap, key: str, kind: str) -> ModelValue:
    """The model value of ``key`` in ``msg`` (the kind's zero value when unmapped); its type follows
    ``kind`` (:data:`ModelValue`): the ``read_*`` functions below give it typed."""
    leaf = mm.leaves.get(key)
    if leaf is None:
        zero: dict[str, ModelValue] = {
            STR: "",
            JSON: b"",
            KEY: b"",
            INT: 0,
            BOOL: False,
            DURATION: 0.0,
            TIMESTAMP: None,
            STRLIST: [],
            STATE: "",
        }
        return zero.get(kind)
    node: Message = msg
    for fd in leaf.path[:-1]:
        node = getattr(node, fd.name)
    fd = leaf.field
    value = getattr(node, fd.name)
    if kind in (JSON, KEY):
        return value.encode() if isinstance(value, str) else bytes(value)
    if kind == STRLIST:
        return list(value)
    if kind in (DURATION, TIMESTAMP):
        if fd.message_type is not None:
            if kind == TIMESTAMP:
                return float(value.ToSeconds() + value.nanos / 1e9) if node.HasField(fd.name) else None
            return float(value.ToTimedelta().total_seconds())
        if fd.type == FieldDescriptor.TYPE_STRING:
            return _parse_text_time(value, kind)
        seconds = float(value) * _seconds_per_unit(leaf, kind)
        return None if kind == TIMESTAMP and not value else seconds
    if isinstance(value, (str, int, float)):  # STR, STATE, INT and BOOL (a bool is an int)
        return value
    raise TypeError(f"{key}: {fd.full_name} holds no {kind}")


def _parse_text_time(text: str, kind: str) -> float | None:
    if not text:
        return None if kind == TIMESTAMP else 0.0
    if kind == TIMESTAMP:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    from fleeting_openstack.godurations import parse_duration

    return parse_duration(text)


def _go_duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{seconds!r}s"


def write(msg: Message, mm: MessageMap, key: str, kind: str, value: ModelValue) -> None:
    """Put a model value into ``msg``; a slot without a field is skipped.

    ``value``'s type follows ``kind`` (:data:`ModelValue`); another type is a TypeError.
    """
    leaf = mm.leaves.get(key)
    if leaf is None or value is None:
        return
    node: Message = msg
    for fd in leaf.path[:-1]:
        node = getattr(node, fd.name)
    fd = leaf.field
    if kind == STRLIST:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{key}: a list of strings, not {value!r}")
        getattr(node, fd.name).extend(str(v) for v in value)
        return
    if kind == STATE:
        if fd.enum_type is not None:
            setattr(node, fd.name, mm.enum_states[str(value)])
        else:
            setattr(node, fd.name, str(value))
        return
    if kind in (JSON, KEY):
        raw = value if isinstance(value, bytes) else str(value).encode()
        setattr(node, fd.name, raw if fd.type == FieldDescriptor.TYPE_BYTES else raw.decode("utf-8", "replace"))
        return
    if kind in (DURATION, TIMESTAMP):
        if not isinstance(value, (int, float)):
            raise TypeError(f"{key}: seconds, not {value!r}")
        seconds = float(value)
        if fd.message_type is not None:
            target = getattr(node, fd.name)
            target.seconds = int(seconds // 1)
            target.nanos = round((seconds - seconds // 1) * 1e9) % 1_000_000_000
        elif fd.type == FieldDescriptor.TYPE_STRING:
            setattr(
                node,
                fd.name,
                _go_duration(seconds)
                if kind == DURATION
                else datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(),
            )
        elif fd.type in FLOATS:
            setattr(node, fd.name, seconds / _seconds_per_unit(leaf, kind))
        else:
            setattr(node, fd.name, round(seconds / _seconds_per_unit(leaf, kind)))
        return
    setattr(node, fd.name, value)


def read_str(msg: Message, mm: MessageMap, key: str, kind: str = STR) -> str:
    """A STR (or STATE) value: "" when unmapped."""
    value = read(msg, mm, key, kind)
    return value if isinstance(value, str) else ""


def read_bytes(msg: Message, mm: MessageMap, key: str, kind: str = JSON) -> bytes:
    """A JSON or KEY value, as bytes: b"" when unmapped."""
    value = read(msg, mm, key, kind)
    return value if isinstance(value, bytes) else b""


def read_int(msg: Message, mm: MessageMap, key: str) -> int:
    """An INT value: 0 when unmapped."""
    value = read(msg, mm, key, INT)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_bool(msg: Message, mm: MessageMap, key: str) -> bool:
    """A BOOL value: False when unmapped."""
    return read(msg, mm, key, BOOL) is True


def read_seconds(msg: Message, mm: MessageMap, key: str, kind: str = DURATION) -> float | None:
    """A DURATION (0.0 when unmapped) or TIMESTAMP (None when unset) value, in seconds."""
    value = read(msg, mm, key, kind)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_strlist(msg: Message, mm: MessageMap, key: str) -> list[str]:
    """A STRLIST value: [] when unmapped."""
    value = read(msg, mm, key, STRLIST)
    return [str(v) for v in value] if isinstance(value, list) else []
