"""The one place that talks to OpenStack: :class:`Cloud`, a small adapter over openstacksdk.

Every service is called through the SDK's authenticated session with raw REST
bodies (no SDK resource is built, no ``find_*`` called: :mod:`.sdk`); Nova
so that the operator's ``server_spec`` reaches it with Nova's own key names and
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
from urllib.parse import quote

from fleeting_openstack.jsontypes import JSONObject, JSONValue
from fleeting_openstack.microversion import microversion_tuple
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
    image_from_doc,
    parse_time,
    server_from_doc,
)
from fleeting_openstack.openstack.neutron import NeutronCalls
from fleeting_openstack.openstack.nova import NovaExtras
from fleeting_openstack.openstack.recording import NO_RECORDER, NovaCall, Recorder
from fleeting_openstack.openstack.retry import RetryPolicy, retriable
from fleeting_openstack.openstack.session import (
    DEFAULT_API_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    as_object,
    as_objects,
    authenticate,
    clouds_file_problem,
)

__all__ = [
    "DEFAULT_API_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "SERVER_ACTIONS",
    "Address",
    "Cloud",
    "CloudError",
    "FloatingIP",
    "Image",
    "InvalidId",
    "Keypair",
    "NotFound",
    "NovaCall",
    "Port",
    "Server",
    "Volume",
    "checked_id",
    "clouds_file_problem",
    "microversion_tuple",
    "parse_time",
]

#: Glance's list parameters that are not filters: a property of that name is matched here only.
_GLANCE_PAGING = frozenset({"name", "limit", "marker", "sort", "sort_key", "sort_dir"})

log = logging.getLogger("fleeting_openstack.openstack")

#: The body-less Nova server actions :meth:`Cloud.server_action` sends (``suspend_mode``'s).
SERVER_ACTIONS = frozenset({"os-stop", "os-start", "suspend", "resume", "shelve", "unshelve"})


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
        recorder: Recorder = NO_RECORDER,
    ) -> Cloud:
        """Authenticate (clouds.yaml entry, or ``OS_*`` env when ``cloud`` is empty)
        and check that Nova offers ``microversion``.

        ``timeout`` (read) / ``connect_timeout``: seconds (plugin_config's ``api_timeout`` /
        ``api_connect_timeout``); unset, clouds.yaml's ``api_timeout`` or the defaults
        apply. ``retry``: the :class:`~fleeting_openstack.openstack.retry.RetryPolicy` of
        idempotent calls. ``recorder``: told of every HTTP request (the provider's metrics)."""
        policy = retry or RetryPolicy()
        for attempt in range(1000):
            try:
                conn = authenticate(cloud, clouds_config, timeout, connect_timeout, recorder)
                self = cls(conn, microversion, cloud or "", retry=policy)
                self._check_microversion()
                return self
            except CloudError as exc:
                if not (retriable(exc) and exc.transient) or attempt >= 3:
                    raise
                time.sleep(policy.delay(attempt))
        raise AssertionError("unreachable")

    def _check_microversion(self) -> None:
        response = self.retry.run(lambda: self._send("compute", "GET", "/", ok=(200, 300)), "GET /")
        doc = response.json()
        versions = as_object(doc.get("version")) if isinstance(doc, dict) else {}
        if not versions and isinstance(doc, dict):  # GET / may list all versions
            versions = next((v for v in as_objects(doc.get("versions")) if v.get("id") == "v2.1"), {})
        low, high = str(versions.get("min_version") or "2.1"), str(versions.get("version") or "2.1")
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
            servers = as_objects(doc.get("servers"))
            for item in servers:
                yield server_from_doc(item)
            if not doc.get("servers_links") or not servers:
                return
            params["marker"] = str(servers[-1]["id"])

    def get_server(self, server_id: str) -> Server:
        return server_from_doc(as_object(self._nova("GET", f"/servers/{checked_id(server_id, 'server id')}")["server"]))

    def create_server(self, request: Mapping[str, JSONValue]) -> str:
        """POST /servers with a complete request (``server`` + ``os:scheduler_hints``)."""
        doc = self._nova("POST", "/servers", ok=(202, 200), json=dict(request))
        return str(as_object(doc["server"])["id"])

    def delete_server(self, server_id: str) -> None:
        self._nova("DELETE", f"/servers/{checked_id(server_id, 'server id')}", ok=(204, 202))

    def add_tag(self, server_id: str, tag: str) -> None:
        self._nova(
            "PUT",
            f"/servers/{checked_id(server_id, 'server id')}/tags/{quote(tag, safe='')}",
            ok=(201, 204),
            idempotent=True,
        )

    def server_action(self, server_id: str, action: str) -> None:
        """``POST /servers/<id>/action`` with ``{action: null}`` (os-stop, os-start, suspend,
        resume, shelve, unshelve: the body-less power actions). Not retried: Nova answers
        202 and a repeat of an accepted action is a 409."""
        if action not in SERVER_ACTIONS:
            raise ValueError(f"not a server action the plugin sends: {action!r}")
        self._nova("POST", f"/servers/{checked_id(server_id, 'server id')}/action", ok=(202,), json={action: None})

    def set_server_metadata(self, server_id: str, items: Mapping[str, str]) -> None:
        """``POST /servers/<id>/metadata``: merges ``items`` into the server's metadata (idempotent)."""
        self._nova(
            "POST",
            f"/servers/{checked_id(server_id, 'server id')}/metadata",
            json={"metadata": dict(items)},
            idempotent=True,
        )

    def delete_server_metadata(self, server_id: str, key: str) -> None:
        """``DELETE /servers/<id>/metadata/<key>``; a key already gone counts as deleted."""
        try:
            self._nova(
                "DELETE", f"/servers/{checked_id(server_id, 'server id')}/metadata/{quote(key, safe='')}", ok=(204, 200)
            )
        except NotFound:
            pass

    def console_tail(self, server_id: str, lines: int) -> str:
        doc = self._nova(
            "POST",
            f"/servers/{checked_id(server_id, 'server id')}/action",
            json={"os-getConsoleOutput": {"length": lines}},
            idempotent=True,
        )
        return str(doc.get("output") or "")

    # -- lookups (Init) ------------------------------------------------------
    def image(
        self, ref: str | None = None, name: str | None = None, properties: Mapping[str, str] | None = None
    ) -> Image:
        """The image with id ``ref``, or the newest (``created_at``) image named ``name`` whose
        properties include ``properties``: an active one when there is one (an upload in progress
        under the same name never wins over an image that can boot)."""
        found: JSONObject | None = None
        if ref:
            if not lookup_safe(ref):
                raise NotFound(f"image {ref!r} is not a valid image id or name (nothing was sent)")
            found = self._find("image", "/images", ref, one=None, many="images")
        elif name:
            wanted = dict(properties or {})
            # Glance filters by custom properties too; the filter is applied here again all the same.
            sent = {k: v for k, v in wanted.items() if k not in _GLANCE_PAGING}
            params = {"name": name, "sort_key": "created_at", "sort_dir": "desc", **sent}
            images = as_objects(self._call("image", "GET", "/images", params=params).get("images"))
            images = [i for i in images if all(str(i.get(k)) == v for k, v in wanted.items())]
            images = [i for i in images if i.get("status") == "active"] or images
            found = max(images, key=lambda i: str(i.get("created_at") or "")) if images else None
        if not found:
            selector = f" with properties {dict(properties)}" if properties else ""
            raise NotFound(f"image {ref or name!r}{selector} not found")
        return image_from_doc(found)

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        found: JSONObject | None = None
        if ref:
            if not lookup_safe(ref):
                raise NotFound(f"flavor {ref!r} is not a valid flavor id (nothing was sent)")
            found = self._flavor(ref)
        elif name:
            found = self._flavor(name) if lookup_safe(name) else None  # a flavor whose id is the name
            if found is None:  # search the list (also for names that cannot go into a URL)
                listed = as_objects(self._nova("GET", "/flavors").get("flavors"))
                named = [f for f in listed if f.get("name") == name]
                if len(named) > 1:
                    raise CloudError(f"Nova: {len(named)} flavors are named {name!r}: use flavorRef (the id)")
                found = named[0] if named else None
        if not found:
            raise NotFound(f"flavor {ref or name!r} not found")
        return str(found["id"])

    def _flavor(self, ref: str) -> JSONObject | None:
        try:
            return as_object(self._nova("GET", f"/flavors/{quote(ref, safe='')}").get("flavor"))
        except NotFound:
            return None

    def network_exists(self, ref: str) -> bool:
        return self._network(ref) is not None

    def network_name(self, ref: str) -> str | None:
        found = self._network(ref)
        return str(found.get("name") or "") if found is not None else None

    def port_exists(self, ref: str) -> bool:
        return lookup_safe(ref) and self._find("network", "/ports", ref, one="port", many="ports") is not None

    def security_group_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        found = self._find("network", "/security-groups", ref, one="security_group", many="security_groups")
        return found is not None

    def keypair_exists(self, name: str) -> bool:
        if not lookup_safe(name):
            return False
        try:
            self._nova("GET", f"/os-keypairs/{quote(name, safe='')}")
            return True
        except NotFound:
            return False

    def server_group_exists(self, ref: str) -> bool:
        if not lookup_safe(ref):
            return False
        try:
            self._nova("GET", f"/os-server-groups/{quote(ref, safe='')}")
            return True
        except NotFound:
            return False
