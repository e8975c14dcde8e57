"""Find serialized ``FileDescriptorProto``s embedded in a binary.

Go's protobuf runtime keeps every compiled ``.proto`` in the executable as
the serialized descriptor (``file_<name>_rawDesc``), stripped binaries too.
Nothing marks where one starts or ends, so the scan works from what a
descriptor must look like:

- it starts with field 1 (``name``, wire type 2) whose value ends in
  ``.proto``: every occurrence of ``.proto`` is a candidate end of a name,
  and the bytes before it must be ``0x0a <varint length>``;
- from there, fields are read one by one while they are fields a
  ``FileDescriptorProto`` has, with the wire type it uses, fit in the data
  and a singular field does not come twice (the next descriptor, or a random
  byte, ends it); serializers write fields in number order, so the first
  step back in numbering is the preferred end, shorter ends are tried after;
- only a prefix that the real protobuf parser accepts, with the same name,
  and that defines every type of its own package it refers to, counts.

This module does no I/O and knows nothing of fleeting.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

if TYPE_CHECKING:
    import mmap

#: What scan() reads: bytes or a mapped binary (no memoryview: the scan needs ``find``).
Buffer = Union[bytes, bytearray, "mmap.mmap"]

#: FileDescriptorProto's fields: number -> (allowed wire types, repeated).
_FIELDS: dict[int, tuple[frozenset[int], bool]] = {
    1: (frozenset({2}), False),  # name
    2: (frozenset({2}), False),  # package
    3: (frozenset({2}), True),  # dependency
    4: (frozenset({2}), True),  # message_type
    5: (frozenset({2}), True),  # enum_type
    6: (frozenset({2}), True),  # service
    7: (frozenset({2}), True),  # extension
    8: (frozenset({2}), False),  # options
    9: (frozenset({2}), False),  # source_code_info
    10: (frozenset({0, 2}), True),  # public_dependency (packed or not)
    11: (frozenset({0, 2}), True),  # weak_dependency
    12: (frozenset({2}), False),  # syntax
    14: (frozenset({0}), False),  # edition
    15: (frozenset({2}), True),  # option_dependency
}
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")
_MAX_NAME = 1024
_SUFFIX = b".proto"


@dataclass(frozen=True)
class Embedded:
    """One descriptor found: where it was and what it says."""

    offset: int
    raw: bytes
    proto: descriptor_pb2.FileDescriptorProto


def read_varint(data: Buffer, pos: int, end: int) -> tuple[int, int] | None:
    """(value, position after it), or None when ``data`` ends first."""
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def encode_varint(value: int) -> bytes:
    """``value`` as a protobuf varint (a negative int32 code sign-extended to 64 bits, as protobuf does)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _name_starts(data: Buffer, suffix_at: int) -> Iterator[int]:
    """Offsets where a ``0x0a <len> name`` field ending at ``suffix_at + 6`` could begin."""
    end = suffix_at + len(_SUFFIX)
    length = len(_SUFFIX)
    while length < _MAX_NAME and end - length - 2 >= 0:
        length += 1
        start = end - length
        if data[start] not in _NAME_CHARS:
            return
        header = b"\x0a" + encode_varint(length)
        begin = start - len(header)
        if begin >= 0 and data[begin:start] == header:
            yield begin


def _field_ends(data: Buffer, start: int, limit: int) -> tuple[list[int], int | None]:
    """Offsets after each acceptable field from ``start``; and the end before
    the first field that steps back in numbering (None if none does)."""
    pos, last, seen = start, 0, set()
    ends: list[int] = []
    ordered_end: int | None = None
    while pos < limit:
        tag = read_varint(data, pos, limit)
        if tag is None:
            break
        number, wire = tag[0] >> 3, tag[0] & 7
        spec = _FIELDS.get(number)
        if spec is None or wire not in spec[0] or (not spec[1] and number in seen):
            break
        after = tag[1]
        if wire == 2:
            size = read_varint(data, after, limit)
            if size is None or size[1] + size[0] > limit:
                break
            after = size[1] + size[0]
        else:
            value = read_varint(data, after, limit)
            if value is None:
                break
            after = value[1]
        if number < last and ordered_end is None:
            ordered_end = pos
        last = max(last, number)
        seen.add(number)
        ends.append(after)
        pos = after
    return ends, ordered_end


def _self_consistent(proto: descriptor_pb2.FileDescriptorProto) -> bool:
    """Every type the file names in its own package is defined in it (a cut-off
    descriptor usually misses the messages its later parts refer to)."""
    prefix = f".{proto.package}." if proto.package else "."
    defined: set[str] = set()

    def collect(
        scope: str,
        messages: Iterable[descriptor_pb2.DescriptorProto],
        enums: Iterable[descriptor_pb2.EnumDescriptorProto],
    ) -> None:
        defined.update(scope + e.name for e in enums)
        for msg in messages:
            defined.add(scope + msg.name)
            collect(scope + msg.name + ".", msg.nested_type, msg.enum_type)

    collect(prefix, proto.message_type, proto.enum_type)
    used: list[str] = []

    def refs(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for msg in messages:
            used.extend(f.type_name for f in msg.field if f.type_name)
            refs(msg.nested_type)

    refs(proto.message_type)
    for service in proto.service:
        used.extend(t for m in service.method for t in (m.input_type, m.output_type))
    for name in used:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :]
        # ".pkg.Msg" or ".pkg.Msg.Nested" must be here; ".pkg.sub.Msg" may be another package
        if ("." not in rest or prefix + rest.split(".")[0] in defined) and name not in defined:
            return False
    return True


def _parse(data: Buffer, start: int, end: int, name: bytes) -> descriptor_pb2.FileDescriptorProto | None:
    proto = descriptor_pb2.FileDescriptorProto()
    try:
        proto.ParseFromString(bytes(data[start:end]))
    except (DecodeError, ValueError, RuntimeError):
        return None
    if proto.name.encode() != name:
        return None
    try:
        consistent = _self_consistent(proto)
    except TypeError:  # a cut-off descriptor can leave names that are not text (bytes) behind
        return None
    return proto if consistent else None


def _read_at(data: Buffer, begin: int, limit: int) -> Embedded | None:
    header = read_varint(data, begin + 1, limit)
    if header is None:
        return None
    name = bytes(data[header[1] : header[1] + header[0]])
    ends, ordered_end = _field_ends(data, begin, limit)
    candidates = ([ordered_end] if ordered_end else []) + sorted(set(ends), reverse=True)
    tried: set[int] = set()
    for end in candidates:
        if end in tried or end <= begin:
            continue
        tried.add(end)
        proto = _parse(data, begin, end, name)
        if proto is not None:
            return Embedded(begin, bytes(data[begin:end]), proto)
    return None


def scan(data: Buffer) -> list[Embedded]:
    """Every complete, parseable ``FileDescriptorProto`` in ``data``, in file order.

    The same file found twice (identical bytes) is reported once.
    """
    found: list[Embedded] = []
    seen: set[bytes] = set()
    limit = len(data)
    pos = 0
    while True:
        hit = data.find(_SUFFIX, pos)
        if hit < 0:
            break
        pos = hit + 1
        for begin in _name_starts(data, hit):
            embedded = _read_at(data, begin, limit)
            if embedded is not None:
                if embedded.raw not in seen:
                    seen.add(embedded.raw)
                    found.append(embedded)
                pos = max(pos, begin + len(embedded.raw))
                break
    return found
