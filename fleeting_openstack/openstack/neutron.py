"""Neutron calls of the adapter (a mixin of :class:`~fleeting_openstack.openstack.client.Cloud`).

The network quota of Increase's pre-check; per-instance floating IPs
(``floating_ip_pool``: :mod:`fleeting_openstack.provider.floatingip`); and the
project-wide port and floating IP listings and deletes of ``reap``.
"""

from __future__ import annotations

from fleeting_openstack.jsontypes import JSONObject
from fleeting_openstack.openstack.errors import checked_id, lookup_safe
from fleeting_openstack.openstack.models import FloatingIP, Port, floating_ip_from_doc, port_from_doc
from fleeting_openstack.openstack.session import Session, as_object, as_objects


class NeutronCalls(Session):
    def network_quota(self) -> JSONObject:
        """The project's network quota in detail (``{"port": {"limit", "used", "reserved"}, ...}``)."""
        project = checked_id(self.project_id, "project id")
        return as_object(self._neutron("GET", f"/quotas/{project}/details.json").get("quota"))

    def _network(self, ref: str) -> JSONObject | None:
        if not lookup_safe(ref):
            return None
        return self._find("network", "/networks", ref, one="network", many="networks")

    def network_id(self, ref: str) -> str | None:
        found = self._network(ref)
        return str(found["id"]) if found is not None else None

    # -- per-instance floating IPs (raw documents: the provider keeps them) ----------
    def server_ports(self, server_id: str) -> list[JSONObject]:
        return as_objects(
            self._neutron("GET", "/ports", params={"device_id": checked_id(server_id, "server id")}).get("ports")
        )

    def floating_ips(self, network_id: str) -> list[JSONObject]:
        params = {"floating_network_id": checked_id(network_id, "network id")}
        return as_objects(self._neutron("GET", "/floatingips", params=params).get("floatingips"))

    def create_floating_ip(self, network_id: str, port_id: str, description: str) -> JSONObject:
        body: JSONObject = {
            "floatingip": {"floating_network_id": network_id, "port_id": port_id, "description": description}
        }
        return as_object(self._neutron("POST", "/floatingips", ok=(201, 200), json=body).get("floatingip"))

    def delete_floating_ip(self, fip_id: str) -> None:
        """Release a floating IP; one already gone counts as released."""
        self._delete("network", f"/floatingips/{checked_id(fip_id, 'floating IP id')}")

    # -- the project's ports and floating IPs (reap) ----------------------------------
    def project_ports(self) -> list[Port]:
        params = {"project_id": self.project_id}
        return [port_from_doc(p) for p in as_objects(self._neutron("GET", "/ports", params=params).get("ports"))]

    def project_floating_ips(self) -> list[FloatingIP]:
        params = {"project_id": self.project_id}
        listed = self._neutron("GET", "/floatingips", params=params).get("floatingips")
        return [floating_ip_from_doc(f) for f in as_objects(listed)]

    def delete_port(self, port_id: str) -> None:
        """Delete a port; one already gone counts as deleted."""
        self._delete("network", f"/ports/{checked_id(port_id, 'port id')}")
