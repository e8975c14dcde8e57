"""Floating IPs as a resource kind: the one kind besides servers the plugin creates (``floating_ip_pool``).

* **Created: allocated and attached in one call** (``POST /floatingips`` with the
  server's port) once the server is ACTIVE and has a port; the floating IP's
  description names the group and the server: ``fleeting:<group> server=<id>``
  (:meth:`FloatingIPs.ensure`; a failed create: :meth:`FloatingIPs.failed_create`).
* **Reported** as the server's external address (Nova's address list may lag
  behind; the plugin's own record is used until it shows).
* **Released with the server** (Decrease, a server the plugin deletes), and
  **never leaked**: at every full resync of the group, a floating IP whose
  description names this group but whose server is no longer a member is
  released, so what a crashed plugin left is collected after its restart
  (:func:`stray_floating_ips`).
* **Leaks** ``reap`` finds (:class:`FloatingIPKind`): on a leaked port, or marked and
  associated with no port (:func:`floating_ip_leaks`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from fleeting_openstack.openstack.models import Server
from fleeting_openstack.provider.resources.kind import Leak, LeakScan, marked

if TYPE_CHECKING:
    from fleeting_openstack.contract.instancegroup import State
    from fleeting_openstack.jsontypes import JSONObject
    from fleeting_openstack.openstack.models import FloatingIP
    from fleeting_openstack.provider.cloud import FloatingIPCloud, LeakCloud
    from fleeting_openstack.provider.groupview import GroupView

#: The logger of the module these lines came from (provider/floatingip.py): its name is operator-visible.
log = logging.getLogger("fleeting_openstack.floatingip")

__all__ = [
    "FloatingIPKind",
    "FloatingIPs",
    "description",
    "floating_ip_leaks",
    "floating_ip_server",
    "stray_floating_ips",
]


def description(tag: str, server_id: str) -> str:
    """The description of a floating IP the plugin attached to ``server_id`` (``floating_ip_pool``)."""
    return f"{tag} server={server_id}"


def floating_ip_server(description: str, tag: str) -> str | None:
    """The server a floating IP of this group was attached to (from its description), None if not the group's."""
    prefix = tag + " server="
    return description[len(prefix) :] if description.startswith(prefix) else None


def text(doc: JSONObject, key: str) -> str:
    """A string field of a raw Neutron document ("" when absent, null or not a string)."""
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def stray_floating_ips(
    fips: Iterable[JSONObject], tag: str, members: Iterable[str]
) -> tuple[dict[str, JSONObject], list[JSONObject]]:
    """(member server id -> its floating IP, the group's floating IPs to release): one per
    member is kept; those of servers no longer in the group, and extra ones, are strays."""
    live = set(members)
    kept: dict[str, JSONObject] = {}
    strays = []
    for fip in fips:
        server = floating_ip_server(text(fip, "description"), tag)
        if server is None:
            continue
        if server in live and server not in kept:
            kept[server] = fip
        else:
            strays.append(fip)
    return kept, strays


def floating_ip_leaks(fips: Iterable[FloatingIP], leaked_ports: set[str], tag: str) -> list[Leak]:
    """Floating IPs on a leaked port, and marked ones associated with no port."""
    leaks = []
    for fip in fips:
        if fip.port_id in leaked_ports:
            leaks.append(Leak("floating_ip", fip.id, fip.address, f"associated with leaked port {fip.port_id}"))
        elif not fip.port_id and marked(fip, tag):
            leaks.append(Leak("floating_ip", fip.id, fip.address, f"{marked(fip, tag)}; not associated"))
    return leaks


class FloatingIPKind:
    """Leak finding and deleting (``reap``); the provider's own floating IPs are :class:`FloatingIPs`."""

    kind = "floating_ip"

    def leaks(self, scan: LeakScan) -> list[Leak]:
        scan.say("listing floating IPs")
        ports = {leak.id for leak in scan.found if leak.kind == "port"}
        return floating_ip_leaks(scan.cloud.project_floating_ips(), ports, scan.tag)

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        cloud.delete_floating_ip(resource_id)


class FloatingIPs:
    """The group's floating IPs: one per ACTIVE member, released when the member goes."""

    def __init__(self, cloud: FloatingIPCloud, pool_ref: str, group_tag: str) -> None:
        self.cloud = cloud
        self.pool_ref = pool_ref
        self.group_tag = group_tag
        self.pool_id: str | None = None
        self.by_server: dict[str, JSONObject] = {}  # server id -> floating IP document
        self._lock = threading.Lock()
        self._loaded = False

    def resolve(self) -> str | None:
        """The pool's network id (Init); None when it does not exist."""
        self.pool_id = self.cloud.network_id(self.pool_ref)
        return self.pool_id

    def sync(self, members: Iterable[str]) -> None:
        """Reload the group's floating IPs; release the ones whose server is gone."""
        if not self.pool_id:
            return
        found, strays = stray_floating_ips(self.cloud.floating_ips(self.pool_id), self.group_tag, members)
        for fip in strays:
            server = floating_ip_server(text(fip, "description"), self.group_tag)
            log.info(
                "releasing a floating IP whose server left the group",
                extra={"floating_ip": text(fip, "floating_ip_address"), "server": server},
            )
            try:
                self.cloud.delete_floating_ip(text(fip, "id"))
            except Exception as exc:  # noqa: BLE001 - tried again at the next resync
                log.warning("could not release floating IP %s: %s", text(fip, "floating_ip_address"), exc)
        with self._lock:
            self.by_server = found
            self._loaded = True

    def ensure(self, server: Server) -> None:
        """Give an ACTIVE member its floating IP if it has none yet."""
        if not self.pool_id:
            return
        if not self._loaded:
            self.sync([server.id])  # first use in this process: learn what exists
        with self._lock:
            if server.id in self.by_server:
                return
        if any(a.kind == "floating" for a in server.addresses):
            return
        ports = self.cloud.server_ports(server.id)
        if not ports:
            return  # no port yet: the next Update tries again
        try:
            fip = self.cloud.create_floating_ip(
                self.pool_id, sorted(text(p, "id") for p in ports)[0], description(self.group_tag, server.id)
            )
        except Exception:
            self.failed_create()
            raise
        with self._lock:
            self.by_server[server.id] = fip
        log.info("floating IP attached", extra={"server": server.id, "floating_ip": text(fip, "floating_ip_address")})

    def on_update(self, view: GroupView | None, evaluated: Sequence[tuple[Server, State]]) -> None:
        """Update's part: after a full resync release strays; give ACTIVE members their floating IP.
        Never fails Update (tried again at the next one)."""
        from fleeting_openstack.contract.instancegroup import State

        try:
            if view is not None and view.last_kind == "full":
                self.sync([s.id for s, st in evaluated if st not in (State.DELETING, State.DELETED)])
            for server, state in evaluated:
                if server.status == "ACTIVE" and state in (State.CREATING, State.RUNNING):
                    self.ensure(server)
        except Exception as exc:  # noqa: BLE001 - floating IPs never fail an Update; retried next time
            log.warning("floating IP handling failed: %s", exc)

    def failed_create(self) -> None:
        """The clean-up of a create that failed: it may exist all the same (the answer was lost), so
        the next :meth:`ensure` reloads the group's floating IPs before creating another, and
        the next full resync releases it if its server is gone."""
        self._loaded = False

    def address(self, server_id: str) -> str:
        with self._lock:
            fip = self.by_server.get(server_id)
        return text(fip, "floating_ip_address") if fip is not None else ""

    def release(self, server_id: str) -> None:
        with self._lock:
            fip = self.by_server.pop(server_id, None)
        if fip is None:
            return
        try:
            self.cloud.delete_floating_ip(text(fip, "id"))
        except Exception as exc:  # noqa: BLE001 - the next resync releases it
            log.warning("could not release floating IP %s: %s", text(fip, "floating_ip_address"), exc)
