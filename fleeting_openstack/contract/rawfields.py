"""A request nobody can decode, described without revealing what it carries.

Used when the runner calls a method the plugin does not serve: the log shows
the message's shape — field numbers, wire types, lengths, nested messages,
integer values — so a contract mismatch can be diagnosed from one log line.
Bytes and strings are never printed (a password or a key is a string), only
their length and whether they read as text; only small integers are shown,
and fixed-width values not at all.
"""

from __future__ import annotations

from fleeting_openstack.contract.scan import read_varint

_WIRE = {0: "varint", 1: "fixed64", 2: "len", 5: "fixed32"}
_MAX_FIELDS = 64
_MAX_DEPTH = 4
#: integers below this are shown (counts, enums, booleans); larger ones could be bytes of a secret.
_MAX_SHOWN = 1 << 16


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    got = read_varint(data, pos, len(data))
    if got is None:
        raise ValueError("truncated varint")
    return got


def _fields(data: bytes, depth: int) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(data):
        if len(out) >= _MAX_FIELDS:
            out.append("...")
            break
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0 or wire not in _WIRE:
            raise ValueError("not a protobuf message")
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append(f"{number}:varint={value}" if value < _MAX_SHOWN else f"{number}:varint(large)")
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise ValueError("truncated fixed field")
            out.append(f"{number}:{_WIRE[wire]}")
            pos += size
        else:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            out.append(f"{number}:{describe_len(data[pos : pos + size], depth + 1)}")
            pos += size
    return out


def _is_text(chunk: bytes) -> bool:
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def describe_len(chunk: bytes, depth: int) -> str:
    if _is_text(chunk):
        return f"text({len(chunk)} bytes)"
    if chunk and depth <= _MAX_DEPTH:
        try:
            return f"message({len(chunk)} bytes){{{', '.join(_fields(chunk, depth))}}}"
        except ValueError:
            pass
    return f"bytes({len(chunk)} bytes)"


def describe(data: bytes) -> str:
    """``{1:text(12 bytes), 2:varint=3}`` for a serialized message; never a string's value."""
    if not data:
        return "{} (empty message)"
    try:
        return "{" + ", ".join(_fields(data, 0)) + "}"
    except ValueError as exc:
        return f"undecodable ({len(data)} bytes: {exc})"
