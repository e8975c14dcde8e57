"""Neutron calls of the adapter (a mixin of :class:`~fleeting_openstack.openstack.client.Cloud`).

The network quota of Increase's pre-check; per-instance floating IPs
(``floating_ip_pool``: :mod:`fleeting_openstack.provider.floatingip`); and the
project-wide port and floating IP listings and deletes of ``reap``.
"""

from __future__ import annotations

from typing import Any

from fleeting_openstack.openstack.errors import NotFound, checked_id, lookup_safe
from fleeting_openstack.openstack.models import FloatingIP, Port, floating_ip_from_sdk, port_from_sdk
from fleeting_openstack.openstack.session import Session


class NeutronCalls(Session):
    def network_quota(self) -> dict[str, Any]:
        project = checked_id(self.conn.current_project_id, "project id")
        quota: dict[str, Any] = self._neutron("GET", f"/quotas/{project}/details.json").get("quota", {})
        return quota

    def network_id(self, ref: str) -> str | None:
        if not lookup_safe(ref):
            return None
        found = self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup")
        return found.id if found else None

    # -- per-instance floating IPs (raw documents: the provider keeps them) ----------
    def server_ports(self, server_id: str) -> list[dict[str, Any]]:
        ports: list[dict[str, Any]] = self._neutron(
            "GET", "/ports", params={"device_id": checked_id(server_id, "server id")}
        )["ports"]
        return ports

    def floating_ips(self, network_id: str) -> list[dict[str, Any]]:
        params = {"floating_network_id": checked_id(network_id, "network id")}
        fips: list[dict[str, Any]] = self._neutron("GET", "/floatingips", params=params)["floatingips"]
        return fips

    def create_floating_ip(self, network_id: str, port_id: str, description: str) -> dict[str, Any]:
        body = {"floatingip": {"floating_network_id": network_id, "port_id": port_id, "description": description}}
        fip: dict[str, Any] = self._neutron("POST", "/floatingips", ok=(201, 200), json=body)["floatingip"]
        return fip

    def delete_floating_ip(self, fip_id: str) -> None:
        """Release a floating IP; one already gone counts as released."""
        try:
            self._neutron("DELETE", f"/floatingips/{checked_id(fip_id, 'floating IP id')}", ok=(204, 200))
        except NotFound:
            pass

    # -- the project's ports and floating IPs (reap) ----------------------------------
    def project_ports(self) -> list[Port]:
        project = self.project_id
        return self._sdk(
            lambda: [port_from_sdk(p) for p in self.conn.network.ports(project_id=project)], "port listing"
        )

    def project_floating_ips(self) -> list[FloatingIP]:
        project = self.project_id
        return self._sdk(
            lambda: [floating_ip_from_sdk(f) for f in self.conn.network.ips(project_id=project)], "floating IP listing"
        )

    def delete_port(self, port_id: str) -> None:
        """Delete a port; one already gone counts as deleted."""
        self._sdk(lambda: self.conn.network.delete_port(port_id, ignore_missing=True), "port delete")
