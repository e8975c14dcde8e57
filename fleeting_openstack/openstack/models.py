"""What the adapter returns: plain frozen dataclasses, never SDK objects.

The provider, the strategies and the commands reason about these only, so an
openstacksdk upgrade (or a fake cloud in a test) changes nothing above the
adapter. The ``*_from_doc`` functions read the JSON documents the services
answer (Nova servers, Glance images, Neutron ports and floating IPs, Cinder
volumes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fleeting_openstack.jsontypes import JSONValue


@dataclass(frozen=True)
class Address:
    network: str
    ip: str
    version: int
    kind: str  # "fixed" | "floating"


@dataclass(frozen=True)
class Server:
    """The part of a Nova server the plugin reasons about."""

    id: str
    name: str
    status: str
    task_state: str | None
    created: float  # unix seconds
    metadata: Mapping[str, str]
    tags: Sequence[str]
    addresses: Sequence[Address]
    image_id: str | None
    flavor: str | None
    access_ipv4: str = ""
    access_ipv6: str = ""
    fault: str = ""
    key_name: str | None = None

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.created


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    properties: Mapping[str, str] = field(default_factory=dict)
    min_disk: int = 0


@dataclass(frozen=True)
class Port:
    """A Neutron port, as ``reap`` sees it."""

    id: str
    name: str
    device_id: str
    device_owner: str
    tags: Sequence[str] = ()
    description: str = ""


@dataclass(frozen=True)
class FloatingIP:
    """A Neutron floating IP, as ``reap`` sees it."""

    id: str
    address: str
    port_id: str
    tags: Sequence[str] = ()
    description: str = ""


@dataclass(frozen=True)
class Keypair:
    name: str


@dataclass(frozen=True)
class Volume:
    """A Cinder volume, as ``reap`` sees it (``created``: unix seconds, None if unknown)."""

    id: str
    name: str
    status: str
    attached: bool
    size: int
    created: float | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Sequence[str] = ()
    description: str = ""


def parse_time(text: str | None) -> float:
    """Nova timestamps: ``2026-11-29T18:30:00Z`` (or with an offset)."""
    if not text:
        return time.time()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def utc_seconds(text: str | None) -> float | None:
    """Timestamps of Neutron/Cinder/Nova: with or without a zone (no zone = UTC); None if unreadable."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _text(value: JSONValue) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: JSONValue) -> tuple[str, ...]:
    return tuple(str(v) for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text_map(value: JSONValue) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items() if v is not None} if isinstance(value, dict) else {}


def _obj(value: JSONValue) -> Mapping[str, JSONValue]:
    return value if isinstance(value, dict) else {}


def server_from_doc(doc: Mapping[str, JSONValue]) -> Server:
    """A Nova server document (``GET /servers/{id}`` or one item of ``/servers/detail``)."""
    addresses = []
    for network, entries in sorted(_obj(doc.get("addresses")).items()):
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            version = entry.get("version", 4)
            addresses.append(
                Address(
                    network=network,
                    ip=_text(entry.get("addr")),
                    version=version if isinstance(version, int) else int(str(version)),
                    kind=_text(entry.get("OS-EXT-IPS:type")) or "fixed",
                )
            )
    image = doc.get("image")
    flavor = _obj(doc.get("flavor"))
    task_state, key_name = doc.get("OS-EXT-STS:task_state"), doc.get("key_name")
    return Server(
        id=str(doc["id"]),
        name=_text(doc.get("name")),
        status=_text(doc.get("status")) or "UNKNOWN",
        task_state=task_state if isinstance(task_state, str) else None,
        created=parse_time(_text(doc.get("created")) or None),
        metadata=_text_map(doc.get("metadata")),
        tags=list(_texts(doc.get("tags"))),
        addresses=addresses,
        image_id=_text(image.get("id")) or None if isinstance(image, dict) else None,
        flavor=_text(flavor.get("original_name")) or _text(flavor.get("id")) or None,
        access_ipv4=_text(doc.get("accessIPv4")),
        access_ipv6=_text(doc.get("accessIPv6")),
        fault=_text(_obj(doc.get("fault")).get("message")),
        key_name=key_name if isinstance(key_name, str) else None,
    )


#: The fields of a Glance image that are not its properties (everything else is one).
GLANCE_FIELDS = frozenset(
    {
        "id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value",
        "owner", "size", "virtual_size", "min_ram", "min_disk", "created_at", "updated_at", "tags",
        "self", "file", "schema", "disk_format", "container_format", "direct_url", "locations",
        "os_hidden", "stores",
    }
)  # fmt: skip


def image_from_doc(doc: Mapping[str, JSONValue]) -> Image:
    """A Glance image document (``GET /v2/images/{id}``): its properties are its other keys."""
    properties = {
        key: str(value)
        for key, value in doc.items()
        if key not in GLANCE_FIELDS and value is not None and not isinstance(value, (dict, list))
    }
    min_disk = doc.get("min_disk")
    return Image(
        id=str(doc["id"]),
        name=_text(doc.get("name")),
        properties=properties,
        min_disk=min_disk if isinstance(min_disk, int) else 0,
    )


def port_from_doc(doc: Mapping[str, JSONValue]) -> Port:
    """A Neutron port document."""
    return Port(
        id=str(doc["id"]),
        name=_text(doc.get("name")),
        device_id=_text(doc.get("device_id")),
        device_owner=_text(doc.get("device_owner")),
        tags=_texts(doc.get("tags")),
        description=_text(doc.get("description")),
    )


def floating_ip_from_doc(doc: Mapping[str, JSONValue]) -> FloatingIP:
    """A Neutron floating IP document."""
    return FloatingIP(
        id=str(doc["id"]),
        address=_text(doc.get("floating_ip_address")),
        port_id=_text(doc.get("port_id")),
        tags=_texts(doc.get("tags")),
        description=_text(doc.get("description")),
    )


def volume_from_doc(doc: Mapping[str, JSONValue]) -> Volume:
    """A Cinder volume document (``GET /volumes/detail``)."""
    size = doc.get("size")
    return Volume(
        id=str(doc["id"]),
        name=_text(doc.get("name")),
        status=_text(doc.get("status")),
        attached=bool(doc.get("attachments")),
        size=size if isinstance(size, int) else 0,
        created=utc_seconds(_text(doc.get("created_at")) or None),
        metadata=_text_map(doc.get("metadata")),
        tags=_texts(doc.get("tags")),
        description=_text(doc.get("description")),
    )
