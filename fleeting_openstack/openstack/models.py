"""What the adapter returns: plain frozen dataclasses, never SDK objects.

The provider, the strategies and the commands reason about these only, so an
openstacksdk upgrade (or a fake cloud in a test) changes nothing above the
adapter. :func:`server_from_doc` reads a Nova server document; the
``*_from_sdk`` functions read the few openstacksdk resources ``reap`` lists.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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


def server_from_doc(doc: Mapping[str, Any]) -> Server:
    """A Nova server document (``GET /servers/{id}`` or one item of ``/servers/detail``)."""
    addresses = []
    for network, entries in sorted((doc.get("addresses") or {}).items()):
        for entry in entries:
            addresses.append(
                Address(
                    network=network,
                    ip=entry.get("addr", ""),
                    version=int(entry.get("version", 4)),
                    kind=entry.get("OS-EXT-IPS:type", "fixed"),
                )
            )
    image = doc.get("image") or {}
    flavor = doc.get("flavor") or {}
    fault = doc.get("fault") or {}
    return Server(
        id=doc["id"],
        name=doc.get("name", ""),
        status=doc.get("status", "UNKNOWN"),
        task_state=doc.get("OS-EXT-STS:task_state"),
        created=parse_time(doc.get("created")),
        metadata=dict(doc.get("metadata") or {}),
        tags=list(doc.get("tags") or []),
        addresses=addresses,
        image_id=image.get("id") if isinstance(image, dict) else None,
        flavor=flavor.get("original_name") or flavor.get("id"),
        access_ipv4=doc.get("accessIPv4") or "",
        access_ipv6=doc.get("accessIPv6") or "",
        fault=(fault.get("message") or "") if isinstance(fault, dict) else "",
        key_name=doc.get("key_name"),
    )


def port_from_sdk(port: Any) -> Port:
    return Port(
        id=port.id,
        name=port.name or "",
        device_id=port.device_id or "",
        device_owner=port.device_owner or "",
        tags=tuple(getattr(port, "tags", None) or ()),
        description=getattr(port, "description", None) or "",
    )


def floating_ip_from_sdk(fip: Any) -> FloatingIP:
    return FloatingIP(
        id=fip.id,
        address=fip.floating_ip_address or "",
        port_id=fip.port_id or "",
        tags=tuple(getattr(fip, "tags", None) or ()),
        description=getattr(fip, "description", None) or "",
    )


def volume_from_sdk(vol: Any) -> Volume:
    return Volume(
        id=vol.id,
        name=vol.name or "",
        status=vol.status or "",
        attached=bool(vol.attachments),
        size=int(vol.size or 0),
        created=utc_seconds(getattr(vol, "created_at", None)),
        metadata=dict(vol.metadata or {}),
        tags=tuple(getattr(vol, "tags", None) or ()),
        description=getattr(vol, "description", None) or "",
    )
