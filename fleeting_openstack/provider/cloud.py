"""What the provider asks of the cloud: each adapter call declared once, composed per user.

The cloud adapter (:class:`fleeting_openstack.openstack.client.Cloud`) is the one
implementation; ``tests/support/fakecloud.FakeCloud`` the in-memory one (checked
against :class:`ProviderCloud` by mypy). Each small Protocol below declares a few
calls exactly once; the Protocols a module needs are compositions of them, and
:class:`ProviderCloud` composes them all (what Init hands the provider).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fleeting_openstack.jsontypes import JSONObject, JSONValue
    from fleeting_openstack.openstack.models import FloatingIP, Image, Keypair, Port, Server, Volume

__all__ = [
    "Console",
    "CreateCloud",
    "DeleteCloud",
    "FlavorLookup",
    "FloatingIPCloud",
    "FloatingIPRelease",
    "ImageSource",
    "LeakCloud",
    "ListingCloud",
    "Pool",
    "ProjectResources",
    "ProviderCloud",
    "QuotaCloud",
    "ServerCreation",
    "ServerDelete",
    "ServerListing",
    "ServerLookup",
    "ServerPower",
    "ServerTagging",
    "Tagger",
]


# -- the calls, each declared once ------------------------------------------------------


class ServerListing(Protocol):
    """Nova ``GET /servers/detail`` with server-side filters, page by page."""

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterable[Server]: ...


class ServerLookup(Protocol):
    """Nova ``GET /servers/<id>``."""

    def get_server(self, server_id: str) -> Server: ...


class ServerCreation(Protocol):
    """Nova ``POST /servers`` (and the region it is made in, for user_data)."""

    @property
    def region(self) -> str: ...

    def create_server(self, request: Mapping[str, JSONValue]) -> str: ...


class ServerDelete(Protocol):
    """Nova ``DELETE /servers/<id>``."""

    def delete_server(self, server_id: str) -> None: ...


class ServerTagging(Protocol):
    """Nova ``PUT /servers/<id>/tags/<tag>``."""

    def add_tag(self, server_id: str, tag: str) -> None: ...


class ServerPower(Protocol):
    """Nova's body-less server actions and the metadata mark of a suspended server (``suspends.py``)."""

    def server_action(self, server_id: str, action: str) -> None: ...

    def set_server_metadata(self, server_id: str, items: Mapping[str, str]) -> None: ...

    def delete_server_metadata(self, server_id: str, key: str) -> None: ...


class Console(Protocol):
    """Nova's console output (the boot marker)."""

    def console_tail(self, server_id: str, lines: int) -> str: ...


class ImageSource(Protocol):
    """Glance image lookups (``properties``: the named image's selector, the newest match wins)."""

    def image(
        self, ref: str | None = None, name: str | None = None, properties: Mapping[str, str] | None = None
    ) -> Image: ...


class FlavorLookup(Protocol):
    """Nova flavor lookups (the flavor fallbacks)."""

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str: ...


class QuotaCloud(Protocol):
    """The limit and quota reads of Increase's pre-check (Nova ``/limits``, flavor sizes, Neutron quotas)."""

    def compute_limits(self) -> dict[str, int]: ...
    def flavor_size(self, ref: str) -> dict[str, int]: ...
    def network_quota(self) -> JSONObject: ...


class FloatingIPRelease(Protocol):
    """Neutron ``DELETE /floatingips/<id>`` (gone already counts as released)."""

    def delete_floating_ip(self, fip_id: str) -> None: ...


class FloatingIPCloud(FloatingIPRelease, Protocol):
    """The Neutron calls of per-instance floating IPs (``floating_ip_pool``; raw documents)."""

    def network_id(self, ref: str) -> str | None: ...
    def server_ports(self, server_id: str) -> list[JSONObject]: ...
    def floating_ips(self, network_id: str) -> list[JSONObject]: ...
    def create_floating_ip(self, network_id: str, port_id: str, description: str) -> JSONObject: ...


class ProjectResources(Protocol):
    """The project's ports, floating IPs, keypairs and volumes: what leak finding lists and deletes."""

    def project_ports(self) -> list[Port]: ...
    def project_floating_ips(self) -> list[FloatingIP]: ...
    def keypairs(self) -> list[Keypair]: ...
    def has_block_storage(self) -> bool: ...
    def volumes(self) -> list[Volume]: ...
    def delete_port(self, port_id: str) -> None: ...
    def delete_keypair(self, name: str) -> None: ...
    def delete_volume(self, volume_id: str) -> None: ...


class Pool(Protocol):
    """The adapter's HTTP connection pool."""

    def widen_pool(self, size: int) -> None: ...
    def close(self) -> None: ...


# -- the compositions the modules need ----------------------------------------------------


class ListingCloud(ServerListing, ServerLookup, Protocol):
    """The group view's calls (``groupview.py``)."""


class DeleteCloud(ServerLookup, ServerDelete, Protocol):
    """Every delete of the provider (``deletes.py``)."""


class Tagger(ServerListing, ServerTagging, Protocol):
    """Adoption of Go-plugin servers and re-tagging (``safety.py``)."""


class CreateCloud(ServerCreation, ServerDelete, ServerTagging, ServerListing, Protocol):
    """One create (``create.py``): the request, tagging, the untagged server's delete, the 5xx lookup."""


class LeakCloud(ServerListing, ServerDelete, FloatingIPRelease, ProjectResources, Protocol):
    """Leak finding and deleting (``leaks.py``, ``resources/``)."""


class ProviderCloud(
    ServerListing,
    ServerLookup,
    ServerCreation,
    ServerDelete,
    ServerTagging,
    ServerPower,
    Console,
    ImageSource,
    FlavorLookup,
    QuotaCloud,
    FloatingIPCloud,
    ProjectResources,
    Pool,
    Protocol,
):
    """Everything the provider (and its read-only observer) asks of the cloud: every call above,
    so it is each composition above too (``ListingCloud``, ``CreateCloud``, ``LeakCloud``...)."""
