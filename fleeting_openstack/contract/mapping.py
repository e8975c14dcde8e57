"""The plugin's model matched onto whatever messages the runner's contract uses.

The provider speaks in a fixed model (plugin_config, ConnectorConfig, an
instance's id and state, ...): each model value is a :class:`Slot` with a
kind and the names it may go by. A discovered message is flattened into
leaves (fields reached through singular sub-messages; Timestamp and Duration
are leaves) and every slot takes the leaf whose normalised name (case and
underscores ignored, unit suffixes such as ``_seconds``/``_ns`` understood)
is one of its names, with a compatible type; where no name fits, a slot that
allows it takes the one unclaimed leaf of its type (e.g. the one bytes field
of the Init request is plugin_config). Values are converted on the way:
Timestamp/Duration messages, integer seconds/milliseconds/nanoseconds, float
seconds and Go duration strings; a state goes into a string or an enum.

Assumptions (docs/protocol.md): integer durations without a unit suffix are
nanoseconds (Go's ``time.Duration``), integer times without one are unix
seconds; the state enum's value names, minus their common prefix, are the
fleeting state words.

The slot table is :mod:`.slots`; reading and writing values through the leaves found here,
:mod:`.values`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

# also read from here by others as mapping.JSON etc.
from fleeting_openstack.contract.kinds import BOOL, DURATION, INT, JSON, KEY, RECORDS, STATE, STR, STRLIST, TIMESTAMP
from fleeting_openstack.contract.slots import (
    MAPPED,
    RECORD_SLOTS,
    RPCS,
    STATES,
    Slot,
    canonical_rpc,
    norm,
    slot_kinds,
)

__all__ = [
    "BOOL",
    "DURATION",
    "FLOATS",
    "INT",
    "JSON",
    "KEY",
    "MAPPED",
    "RECORDS",
    "RECORD_SLOTS",
    "RPCS",
    "STATE",
    "STATES",
    "STR",
    "STRLIST",
    "TIMESTAMP",
    "TYPE_NAMES",
    "Leaf",
    "MessageMap",
    "MethodMap",
    "Slot",
    "canonical_rpc",
    "compatible",
    "describe",
    "layout",
    "map_message",
    "map_method",
    "norm",
    "slot_kinds",
]

_INTS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
FLOATS = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
#: unit suffix of a normalised name -> seconds per unit (None: the kind's default).
_UNITS: dict[str, float | None] = {
    "": None,
    "at": None,
    "ns": 1e-9,
    "nanos": 1e-9,
    "nano": 1e-9,
    "nanoseconds": 1e-9,
    "unixnano": 1e-9,
    "unixnanos": 1e-9,
    "us": 1e-6,
    "micros": 1e-6,
    "microseconds": 1e-6,
    "ms": 1e-3,
    "millis": 1e-3,
    "milliseconds": 1e-3,
    "unixmilli": 1e-3,
    "unixms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "seconds": 1.0,
    "unix": 1.0,
    "atunix": 1.0,
}


@dataclass(frozen=True)
class Leaf:
    path: tuple[FieldDescriptor, ...]
    #: seconds per integer unit, for durations and times.
    unit: float | None = None

    @property
    def field(self) -> FieldDescriptor:
        return self.path[-1]

    @property
    def dotted(self) -> str:
        return ".".join(f.name for f in self.path)


def _leaves(desc: Descriptor, prefix: tuple[FieldDescriptor, ...] = ()) -> list[tuple[FieldDescriptor, ...]]:
    out: list[tuple[FieldDescriptor, ...]] = []
    for fd in desc.fields:
        path = (*prefix, fd)
        sub = fd.message_type
        if (
            sub is not None
            and not fd.is_repeated
            and sub.full_name not in (_TIMESTAMP, _DURATION)
            and not sub.GetOptions().map_entry
            and len(prefix) < 4
            and all(p.message_type is not sub for p in prefix)
        ):
            out.extend(_leaves(sub, path))
        else:
            out.append(path)
    return out


def _repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def compatible(kind: str, fd: FieldDescriptor) -> bool:
    sub = fd.message_type.full_name if fd.message_type else ""
    if kind == RECORDS:
        return _repeated(fd) and fd.message_type is not None and not fd.message_type.GetOptions().map_entry
    if kind == STRLIST:
        return _repeated(fd) and fd.type == FieldDescriptor.TYPE_STRING
    if _repeated(fd):
        return False
    if kind in (JSON, KEY):
        return fd.type in (FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_STRING)
    if kind == STR:
        return fd.type == FieldDescriptor.TYPE_STRING
    if kind == INT:
        return fd.type in _INTS
    if kind == BOOL:
        return fd.type == FieldDescriptor.TYPE_BOOL
    if kind == STATE:
        return fd.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_ENUM)
    if kind in (DURATION, TIMESTAMP):
        wanted = _DURATION if kind == DURATION else _TIMESTAMP
        return sub == wanted or (
            not sub and (fd.type in _INTS or fd.type in FLOATS or fd.type == FieldDescriptor.TYPE_STRING)
        )
    return False


def _name_match(slot: Slot, fd: FieldDescriptor) -> tuple[bool, float | None]:
    name = norm(fd.name)
    if name in slot.names:
        return True, None
    if slot.kind in (DURATION, TIMESTAMP):
        for syn in slot.names:
            if name.startswith(syn) and name[len(syn) :] in _UNITS:
                return True, _UNITS[name[len(syn) :]]
    return False, None


@dataclass
class MessageMap:
    """Where each slot of one message lives (slots that found no field are absent)."""

    desc: Descriptor
    leaves: dict[str, Leaf] = field(default_factory=dict)
    #: for a RECORDS slot: the mapping of its element message.
    records: dict[str, MessageMap] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: canonical state -> enum number, for enum state fields.
    enum_states: dict[str, int] = field(default_factory=dict)


def layout(desc: Descriptor) -> str:
    """``Name{int32 alpha = 1; ...}``: what a message looks like, for error messages."""

    def kind(fd: FieldDescriptor) -> str:
        base = (
            fd.message_type.full_name
            if fd.message_type
            else fd.enum_type.full_name
            if fd.enum_type
            else TYPE_NAMES.get(fd.type, "?")
        )
        return ("repeated " if _repeated(fd) else "") + base

    return f"{desc.full_name}{{{'; '.join(f'{kind(f)} {f.name} = {f.number}' for f in desc.fields)}}}"


TYPE_NAMES = {getattr(FieldDescriptor, n): n[5:].lower() for n in dir(FieldDescriptor) if n.startswith("TYPE_")}


def _state_enum(fd: FieldDescriptor) -> tuple[dict[str, int], list[str]]:
    enum = fd.enum_type
    assert enum is not None, f"{fd.full_name} is not an enum field"  # called for STATE enum fields only
    names = [v.name for v in enum.values]
    prefix = ""
    if len(names) > 1:
        first = names[0]
        common = first[
            : max((i for i in range(len(first) + 1) if all(n.startswith(first[:i]) for n in names)), default=0)
        ]
        prefix = common[: common.rfind("_") + 1] if "_" in common else ""
    found = {norm(v.name[len(prefix) :]): v.number for v in enum.values}
    states = {s: found[s] for s in (*STATES, "suspending", "suspended", "resuming") if s in found}
    missing = [s for s in STATES if s not in states]
    return states, missing


def map_message(desc: Descriptor, slots: Sequence[Slot], what: str) -> MessageMap:
    result = MessageMap(desc=desc)
    paths = _leaves(desc)
    free = list(paths)
    for slot in slots:
        best: tuple[tuple[int, int, int], tuple[FieldDescriptor, ...], float | None] | None = None
        for path in free:
            ok, unit = _name_match(slot, path[-1])
            if not ok or not compatible(slot.kind, path[-1]):
                continue
            grouped = any(norm(p.name) in slot.groups for p in path[:-1])
            rank = (0 if grouped or not slot.groups else 1, len(path), paths.index(path))
            if best is None or rank < best[0]:
                best = (rank, path, unit)
        if best is not None:
            result.leaves[slot.key] = Leaf(best[1], best[2])
            free.remove(best[1])
    for slot in slots:
        if slot.key in result.leaves or not slot.by_type:
            continue
        typed = [p for p in free if compatible(slot.kind, p[-1])]
        if slot.kind == JSON and len(typed) > 1:
            typed = [p for p in typed if p[-1].type == FieldDescriptor.TYPE_BYTES] or typed
        if len(typed) == 1:
            result.leaves[slot.key] = Leaf(typed[0])
            free.remove(typed[0])
    for slot in slots:
        leaf = result.leaves.get(slot.key)
        if leaf is None:
            if slot.required:
                result.problems.append(
                    f"{what}: no field for {slot.key.split('.')[-1]} (expected a {slot.kind} field named "
                    f"{', '.join(slot.names)}); its fields: {layout(desc)}"
                )
            continue
        if slot.kind == RECORDS:
            element = leaf.field.message_type
            assert element is not None, f"{leaf.dotted} is not a message field"  # RECORDS match messages only
            sub = map_message(element, RECORD_SLOTS, f"{what} {leaf.dotted}[]")
            result.records[slot.key] = sub
            result.problems.extend(sub.problems)
        if slot.kind == STATE and leaf.field.enum_type is not None:
            states, missing = _state_enum(leaf.field)
            result.enum_states = states
            if missing:
                result.problems.append(
                    f"{what}: enum {leaf.field.enum_type.full_name} has no value for {', '.join(missing)}"
                )
    result.unused = [".".join(f.name for f in p) for p in free]
    return result


@dataclass
class MethodMap:
    rpc: str
    method: MethodDescriptor
    request: MessageMap
    response: MessageMap
    #: the response is streamed: for Update, one message per instance.
    streamed: bool
    problems: list[str] = field(default_factory=list)


def map_method(rpc: str, method: MethodDescriptor) -> MethodMap:
    _, request_slots, response_slots = RPCS[rpc]
    streamed = bool(getattr(method, "server_streaming", False))
    if rpc == "Update" and streamed:
        response_slots = RECORD_SLOTS
    name = method.name
    request = map_message(method.input_type, request_slots if rpc in MAPPED else (), f"{name} request")
    response = map_message(method.output_type, response_slots if rpc in MAPPED else (), f"{name} response")
    if rpc not in MAPPED:  # answered Unimplemented: its fields are not "ignored"
        request.unused, response.unused = [], []
    problems = request.problems + response.problems
    if getattr(method, "client_streaming", False):
        problems.append(f"{name}: the runner streams its requests, which fleeting never does")
    return MethodMap(rpc, method, request, response, streamed, problems)


def describe(mm: MessageMap) -> dict[str, str]:
    """slot -> dotted field path (with the unit where one was read from the name)."""
    out = {key: leaf.dotted for key, leaf in mm.leaves.items()}
    for key, sub in mm.records.items():
        out.update({f"{key}[].{k}": f"{mm.leaves[key].dotted}[].{v}" for k, v in describe(sub).items()})
    return out
