"""Which of a server's addresses the runner gets, and which image it was booted from.

Public so that ``status`` shows exactly what ConnectInfo would hand the runner
(``Addresses.of``), and the image whose properties decide the connector's OS and
architecture (``ServerImages.of``).

* internal = a fixed IP, external = a floating IP (the plugin's own floating IP
  when ``floating_ip_pool`` is set), restricted to ``address.internal_network`` /
  ``external_network`` when configured; the preferred IP version first, then
  network name and address order, so the answer is deterministic;
* the access IPv4/IPv6 of the server fills what is missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.provider.cloud import ImageSource

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Address, Image, Server
    from fleeting_openstack.openstack.resources import Resolved

log = logging.getLogger("fleeting_openstack.provider")


class FloatingAddresses(Protocol):
    """The plugin's own floating IPs (``floatingip.FloatingIPs``): server id -> address."""

    def address(self, server_id: str) -> str: ...


class Addresses:
    """(internal, external) of a server, as ConnectInfo reports them."""

    def __init__(
        self, ip_version: int, resolved: Resolved | None = None, fips: FloatingAddresses | None = None
    ) -> None:
        self.ip_version = ip_version
        self.resolved = resolved
        self.fips = fips

    def of(self, server: Server) -> tuple[str, str]:
        prefer, res = self.ip_version, self.resolved

        def ordered(items: Iterable[Address]) -> list[Address]:
            return sorted(items, key=lambda a: (a.version != prefer, a.network, a.ip))

        fixed = [
            a
            for a in server.addresses
            if a.kind == "fixed" and (res is None or res.internal_network is None or a.network == res.internal_network)
        ]
        floating = [
            a
            for a in server.addresses
            if a.kind == "floating"
            and (res is None or res.external_network is None or a.network == res.external_network)
        ]
        internal = ordered(fixed)[0].ip if fixed else ""
        external = ordered(floating)[0].ip if floating else ""
        own = self.fips.address(server.id) if self.fips is not None else None
        if own:
            external = own
        access = server.access_ipv4 if prefer == 4 else server.access_ipv6
        access = access or server.access_ipv4 or server.access_ipv6
        if not external and access and access != internal:
            external = access
        if not internal:
            internal = access or external
        return internal, external


class ServerImages:
    """The Glance image of a server (looked up once per image id); the configured
    image when the server boots from a volume or its image is gone."""

    def __init__(self, cloud: ImageSource, configured: Image | None) -> None:
        self.cloud = cloud
        self.configured = configured
        self._cache: dict[str, Image | None] = {}
        self._lock = threading.Lock()

    def of(self, server: Server) -> Image | None:
        if not server.image_id:
            return self.configured
        with self._lock:
            if server.image_id in self._cache:
                return self._cache[server.image_id]
        try:
            image: Image | None = self.cloud.image(ref=server.image_id)
        except Exception:  # noqa: BLE001 - image may be deleted; fall back to config
            image = self.configured
        with self._lock:
            self._cache[server.image_id] = image
        return image
