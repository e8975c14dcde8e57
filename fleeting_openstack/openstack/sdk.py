"""The few parts of an openstacksdk Connection the adapter touches, as Protocols.

The adapter sends raw REST requests through the SDK's authenticated service
clients (``conn.compute.request(...)``) and never builds an SDK resource:
openstacksdk 4 warns on every resource it builds and on every ``find_*`` that
may miss (both to go in its next majors), and the answers are plain JSON the
adapter reads into its own models (:mod:`.models`). Typing the connection by
these Protocols keeps the rest of the SDK out of reach, and lets a test hand
:class:`~.session.Session` a connection of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.jsontypes import JSONValue

if TYPE_CHECKING:  # keystoneauth (and requests) load when the adapter connects (lightsdk)
    from keystoneauth1.session import Session as KeystoneSession

__all__ = ["Connection", "RegionConfig", "Response", "ServiceClient"]


class Response(Protocol):
    """An HTTP answer (a requests Response)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    def json(self) -> object: ...


class ServiceClient(Protocol):
    """One service's authenticated client (the SDK's proxy: a keystoneauth Adapter)."""

    def request(
        self,
        url: str,
        method: str,
        *,
        raise_exc: bool = ...,
        params: Mapping[str, str] | None = ...,
        json: JSONValue = ...,
        microversion: str | None = ...,
    ) -> Response: ...


class RegionConfig(Protocol):
    def get_region_name(self, service_type: str | None = None) -> str | None: ...


class Connection(Protocol):
    """What :class:`~.session.Session` uses of an openstacksdk Connection."""

    @property
    def compute(self) -> ServiceClient: ...
    @property
    def network(self) -> ServiceClient: ...
    @property
    def image(self) -> ServiceClient: ...
    @property
    def block_storage(self) -> ServiceClient: ...
    @property
    def config(self) -> RegionConfig: ...
    @property
    def session(self) -> KeystoneSession: ...
    @property
    def current_project_id(self) -> str | None: ...
    @property
    def service_catalog(self) -> Sequence[Mapping[str, object]]: ...
    def close(self) -> None: ...
