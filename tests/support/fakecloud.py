"""One in-memory cloud for unit tests: the adapter's interface (``openstack.client.Cloud``) without a cloud.

Every unit test that needs "a cloud" uses :class:`FakeCloud` (no ``SimpleNamespace``
clouds, no stubs per file). It answers the calls the provider and the commands make
with the adapter's own types (``Server``, ``Image``, ``CloudError``/``NotFound``),
and records what was asked of it (``deleted``, ``created``, ``tagged``) so tests
assert on effects, never on private state.

Servers are made with :func:`make_server` and put in with :meth:`FakeCloud.add`.
Nova's behaviours the plugin depends on are modelled where tests need them:

* a delete leaves the server listed with ``task_state="deleting"`` until
  :meth:`FakeCloud.finish_deletes` (Nova deletes asynchronously);
* list answers may omit a server's fault while its own record has it
  (``add(server, record_fault=...)``);
* a create can fail (``fail_next_create``), also with an unknown outcome where Nova
  made the server anyway (``made=True``: the 5xx-recovery path).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fleeting_openstack.openstack.client import Address, CloudError, Image, NotFound, Server

#: The fixed address every made server gets unless told otherwise.
DEFAULT_ADDRESS = Address("workers", "10.1.0.5", 4, "fixed")


def make_server(sid: str, status: str = "ACTIVE", *, age: float = 10.0, task_state: str | None = None,
                fault: str = "", name: str | None = None, metadata: Mapping[str, str] | None = None,
                tags: Sequence[str] = (), addresses: Sequence[Address] | None = None,
                image_id: str | None = None, flavor: str | None = None, now: float | None = None) -> Server:
    """A Nova server as the adapter returns it, ``age`` seconds old."""
    return Server(id=sid, name=name if name is not None else f"n-{sid}", status=status, task_state=task_state,
                  created=(now if now is not None else time.time()) - age, metadata=dict(metadata or {}),
                  tags=list(tags), addresses=list(addresses if addresses is not None else [DEFAULT_ADDRESS]),
                  image_id=image_id, flavor=flavor, fault=fault)


class FakeCloud:
    """An in-memory Nova (plus the lookups Init makes) with the adapter's methods."""

    def __init__(self, *, region: str = "RegionOne", images: Sequence[Image] = (),
                 flavors: Mapping[str, str] | None = None, networks: Mapping[str, str] | None = None) -> None:
        self.region = region
        self.servers: dict[str, Server] = {}
        self.records: dict[str, Server] = {}  # what get_server answers when it differs from the listing
        self.images = {i.id: i for i in images}
        self.flavors = dict(flavors or {})  # name -> id
        self.networks = dict(networks or {})  # id -> name
        self.console = ""  # every server's console unless ``consoles`` has its own
        self.consoles: dict[str, str] = {}
        self.console_fails = False
        self.deleted: list[str] = []
        self.delete_fails: dict[str, Exception] = {}
        self.created: list[dict[str, Any]] = []  # every create request, also failed ones
        self.tagged: list[tuple[str, str]] = []
        self.list_calls: list[dict[str, str]] = []
        self.closed = False
        self._create_failures: list[tuple[Exception, bool]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- test controls -------------------------------------------------------
    def add(self, *servers: Server, record_fault: str = "") -> None:
        """Put servers in; ``record_fault``: a fault only their own record shows (not the listing)."""
        for server in servers:
            self.servers[server.id] = server
            if record_fault:
                self.records[server.id] = dataclasses.replace(server, fault=record_fault)

    def set_status(self, sid: str, status: str, **changes: Any) -> None:
        self.servers[sid] = dataclasses.replace(self.servers[sid], status=status, **changes)

    def fail_next_create(self, error: Exception, *, made: bool = False) -> None:
        """The next create raises ``error``; ``made``: Nova made the server all the same."""
        self._create_failures.append((error, made))

    def finish_deletes(self) -> None:
        """Nova completes the deletes: deleted servers are no longer listed."""
        for sid in self.deleted:
            self.servers.pop(sid, None)
            self.records.pop(sid, None)

    # -- the adapter's interface ---------------------------------------------
    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        self.list_calls.append(dict(filters))
        for server in list(self.servers.values()):
            if "tags" in filters and filters["tags"] not in server.tags:
                continue
            if "name" in filters and not re.search(filters["name"], server.name):
                continue
            yield server

    def get_server(self, server_id: str) -> Server:
        if server_id in self.records:
            return self.records[server_id]
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        return self.servers[server_id]

    def create_server(self, request: Mapping[str, Any]) -> str:
        body = request["server"]
        with self._lock:
            self.created.append(dict(request))
            failure = self._create_failures.pop(0) if self._create_failures else None
            sid = f"srv-{next(self._ids)}"
        if failure is None or failure[1]:
            self.servers[sid] = make_server(sid, "BUILD", age=0.0, name=body["name"],
                                            metadata=body.get("metadata") or {}, tags=body.get("tags") or (),
                                            image_id=body.get("imageRef"), flavor=body.get("flavorRef"))
        if failure is not None:
            raise failure[0]
        return sid

    def delete_server(self, server_id: str) -> None:
        if server_id in self.delete_fails:
            raise self.delete_fails[server_id]
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        self.deleted.append(server_id)
        self.servers[server_id] = dataclasses.replace(self.servers[server_id], task_state="deleting")

    def add_tag(self, server_id: str, tag: str) -> None:
        self.tagged.append((server_id, tag))
        server = self.servers[server_id]
        if tag not in server.tags:
            self.servers[server_id] = dataclasses.replace(server, tags=[*server.tags, tag])

    def console_tail(self, server_id: str, lines: int) -> str:
        if self.console_fails:
            raise CloudError("console unavailable", 409)
        text = self.consoles.get(server_id, self.console)
        return "\n".join(text.split("\n")[-lines:])

    def image(self, ref: str | None = None, name: str | None = None) -> Image:
        for image in self.images.values():
            if (ref and image.id == ref) or (name and image.name == name):
                return image
        raise NotFound(f"image {ref or name!r} not found", 404)

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        if ref and ref in self.flavors.values():
            return ref
        if name and name in self.flavors:
            return self.flavors[name]
        raise NotFound(f"flavor {ref or name!r} not found", 404)

    def network_exists(self, ref: str) -> bool:
        return ref in self.networks or ref in self.networks.values()

    def network_name(self, ref: str) -> str | None:
        if ref in self.networks:
            return self.networks[ref]
        return ref if ref in self.networks.values() else None

    def compute_limits(self) -> dict[str, int]:
        raise CloudError("limits are not modelled", 501)  # the quota pre-check is advisory: skipped

    def widen_pool(self, size: int) -> None:
        pass

    def close(self) -> None:
        self.closed = True
