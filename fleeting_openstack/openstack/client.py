"""The one place that talks to OpenStack: :class:`Cloud`, a small adapter over openstacksdk.

Nova is called through the SDK's authenticated session with raw REST bodies,
so the operator's ``server_spec`` reaches Nova with Nova's own key names and
the configured microversion on every request (the original plugin silently
replaced it). Results come back as plain dataclasses (:mod:`.models`): the
provider and the commands never see an SDK object, and the strategies never
see the provider's. The plugin and every command use this class only, never
the SDK connection.

Here: connecting (with the microversion check), servers, and Init's lookups.
The rest of the adapter is in mixins: :mod:`.nova` (limits, keypairs),
:mod:`.neutron` (quota, floating IPs, ports), :mod:`.cinder` (volumes), all on
:mod:`.session` (the raw, retried calls). The names other modules import from
here (errors, models) are re-exported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from fleeting_openstack.config.units import microversion_tuple
from fleeting_openstack.openstack.cinder import CinderCalls
from fleeting_openstack.openstack.errors import CloudError, InvalidId, NotFound, checked_id, lookup_safe
from fleeting_openstack.openstack.models import (
    Address,
    FloatingIP,
    Image,
    Keypair,
    Port,
    Server,
    Volume,
    parse_time,
    server_from_doc,
)
from fleeting_openstack.openstack.neutron import NeutronCalls
from fleeting_openstack.openstack.nova import NovaExtras
from fleeting_openstack.openstack.retry import RetryPolicy, retriable
from fleeting_openstack.openstack.session import (
    DEFAULT_API_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    authenticate,
    clouds_file_problem,
)

__all__ = [
    "DEFAULT_API_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "Address",
    "Cloud",
    "CloudError",
    "FloatingIP",
    "Image",
    "InvalidId",
    "Keypair",
    "NotFound",
    "Port",
    "Server",
    "Volume",
    "checked_id",
    "clouds_file_problem",
    "microversion_tuple",
    "parse_time",
]

log = logging.getLogger("fleeting_openstack.openstack")


class Cloud(NovaExtras, NeutronCalls, CinderCalls):
    """An authenticated connection and the handful of calls the plugin and its commands make."""

    # -- connection -------------------------------------------------------
    @classmethod
    def connect(
        cls,
        cloud: str | None,
        clouds_config: str | None,
        microversion: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Cloud:
        """Authenticate (clouds.yaml entry, or ``OS_*`` env when ``cloud`` is empty)
        and check that Nova offers ``microversion``.

        ``timeout`` (read) / ``connect_timeout``: plugin_config's ``api_timeout`` /
        ``api_connect_timeout``; unset, clouds.yaml's ``api_timeout`` or the defaults
        apply. ``retry``: the :class:`~fleeting_openstack.openstack.retry.RetryPolicy` of idempotent calls."""
        policy = retry or RetryPolicy()
        for attempt in range(1000):
            try:
                conn = authenticate(cloud, clouds_config, timeout, connect_timeout)
                self = cls(conn, microversion, cloud or "", retry=policy)
                self._check_microversion()
                return self
            except CloudError as exc:
                if not (retriable(exc) and exc.transient) or attempt >= 3:
                    raise
                time.sleep(policy.delay(attempt))
        raise AssertionError("unreachable")

    def _check_microversion(self) -> None:
        response = self.retry.run(lambda: self._send("GET", "/", ok=(200, 300), microversion=None), "GET /")
        versions = response.json().get("version") or {}
        if not versions:  # GET / may list all versions
            versions = next((v for v in response.json().get("versions", []) if v.get("id") == "v2.1"), {})
        low, high = versions.get("min_version") or "2.1", versions.get("version") or "2.1"
        want = microversion_tuple(self.microversion)
        if not microversion_tuple(low) <= want <= microversion_tuple(high):
            raise CloudError(
                f"nova_microversion {self.microversion} is not offered by this cloud's "
                f"compute API (it supports {low} to {high})"
            )

    # -- servers -------------------------------------------------------------
    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        """All servers matching ``filters`` (server-side), page by page."""
        params = dict(filters)
        params["limit"] = str(page_size)
        while True:
            doc = self._nova("GET", "/servers/detail", params=params)
            servers = doc.get("servers", [])
            for item in servers:
                yield server_from_doc(item)
            if not doc.get("servers_links") or not servers:
                return
            params["marker"] = servers[-1]["id"]

    def get_server(self, server_id: str) -> Server:
        return server_from_doc(self._nova("GET", f"/servers/{checked_id(server_id, 'server id')}")["server"])

    def create_server(self, request: Mapping[str, Any]) -> str:
        """POST /servers with a complete request (``server`` + ``os:scheduler_hints``)."""
        doc = self._nova("POST", "/servers", ok=(202, 200), json=dict(request))
        server_id: str = doc["server"]["id"]
        return server_id

    def delete_server(self, server_id: str) -> None:
        self._nova("DELETE", f"/servers/{checked_id(server_id, 'server id')}", ok=(204, 202))

    def add_tag(self, server_id: str, tag: str) -> None:
        from urllib.parse import quote

        self._nova(
            "PUT",
            f"/servers/{checked_id(server_id, 'server id')}/tags/{quote(tag, safe='')}",
            ok=(201, 204),
            idempotent=True,
        )

    def console_tail(self, server_id: str, lines: int) -> str:
        doc = self._nova(
            "POST",
            f"/servers/{checked_id(server_id, 'server id')}/action",
            json={"os-getConsoleOutput": {"length": lines}},
            idempotent=True,
        )
        return str(doc.get("output") or "")

    # -- lookups (Init) ------------------------------------------------------
    def image(self, ref: str | None = None, name: str | None = None) -> Image:
        if ref:
            if not lookup_safe(ref):
                raise NotFound(f"image {ref!r} is not a valid image id or name (nothing was sent)")
            found = self._sdk(lambda: self.conn.image.find_image(ref, ignore_missing=True), "Glance image lookup")
        else:
            images = self._sdk(lambda: list(self.conn.image.images(name=name)), "Glance image lookup")
            images = [i for i in images if i.status == "active"] or images
            found = max(images, key=lambda i: i.created_at or "") if images else None
        if not found:
            raise NotFound(f"image {ref or name!r} not found")
        props = {k: str(v) for k, v in (found.properties or {}).items()}
        for attr in ("os_admin_user", "os_type", "os_distro", "os_version", "architecture", "hw_architecture"):
            value = getattr(found, attr, None)
            if value:
                props[attr] = str(value)
        return Image(id=found.id, name=found.name or "", properties=props, min_disk=found.min_disk or 0)

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        if ref:
            if not lookup_safe(ref):
                raise NotFound(f"flavor {ref!r} is not a valid flavor id (nothing was sent)")
            found = self._sdk(lambda: self.conn.compute.find_flavor(ref, ignore_missing=True), "flavor lookup")
        elif lookup_safe(name or ""):
            found = self._sdk(lambda: self.conn.compute.find_flavor(name, ignore_missing=True), "flavor lookup")
        else:  # a name that cannot go into a URL: search the list
            found = next(
                (f for f in self._sdk(lambda: list(self.conn.compute.flavors()), "flavor lookup") if f.name == name),
                None,
            )
        if not found:
            raise NotFound(f"flavor {ref or name!r} not found")
        flavor_id: str = found.id
        return flavor_id

    def network_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        return self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup") is not None

    def network_name(self, ref: str) -> str | None:
        if not lookup_safe(ref):
            return None
        found = self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup")
        return found.name if found else None

    def port_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        return self._sdk(lambda: self.conn.network.find_port(ref, ignore_missing=True), "port lookup") is not None

    def security_group_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        found = self._sdk(
            lambda: self.conn.network.find_security_group(ref, ignore_missing=True), "security group lookup"
        )
        return found is not None

    def keypair_exists(self, name: str) -> bool:
        return lookup_safe(name) and self._sdk(
            lambda: self.conn.compute.find_keypair(name, ignore_missing=True) is not None, "keypair lookup"
        )

    def server_group_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        try:
            self._nova("GET", f"/os-server-groups/{ref}")
            return True
        except NotFound:
            return False
