"""Nova limits and Neutron calls of the cloud adapter (a mixin of openstack.Cloud):
the quota pre-check of Increase, and per-instance floating IPs."""

from __future__ import annotations

from typing import Any, Sequence


class LimitsAndFloatingIPs:
    conn: Any
    retry: Any
    _nova: Any
    _sdk: Any

    # -- limits (Increase's quota pre-check) ------------------------------------
    def compute_limits(self) -> dict[str, int]:
        return dict((self._nova("GET", "/limits") or {}).get("limits", {}).get("absolute", {}))

    def flavor_size(self, ref: str) -> dict[str, int]:
        from fleeting_openstack.openstack.client import checked_id

        cache = self.__dict__.setdefault("_flavor_sizes", {})
        if ref not in cache:
            doc = self._nova("GET", f"/flavors/{checked_id(ref, 'flavor id')}")["flavor"]
            cache[ref] = {"vcpus": int(doc.get("vcpus") or 0), "ram": int(doc.get("ram") or 0)}
        return cache[ref]

    def network_quota(self) -> dict[str, Any]:
        from fleeting_openstack.openstack.client import checked_id

        project = checked_id(self.conn.current_project_id, "project id")
        return self._neutron("GET", f"/quotas/{project}/details.json").get("quota", {})

    # -- Neutron ------------------------------------------------------------------
    def _neutron(self, method: str, url: str, *, ok: Sequence[int] = (200,), idempotent: bool | None = None,
                 **kwargs: Any) -> Any:
        from keystoneauth1 import exceptions as ksa_exc

        from fleeting_openstack.openstack.client import CloudError, NotFound, _error_text
        from fleeting_openstack.openstack.retry import parse_retry_after

        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        where = f"Neutron {method} {url.split('?')[0]}"

        def once() -> Any:
            try:
                response = self.conn.network.request(url, method, raise_exc=False, **kwargs)
            except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
                raise CloudError(f"{where}: no answer ({type(exc).__name__}: {exc})", None) from None
            except ksa_exc.HttpError as exc:
                raise CloudError(f"{where}: the identity service answered HTTP {exc.http_status}",
                                 exc.http_status) from None
            if response.status_code == 404:
                raise NotFound(f"{where}: {_error_text(response)}", 404)
            if response.status_code not in ok:
                error = CloudError(f"{where}: HTTP {response.status_code}: {_error_text(response)}",
                                   response.status_code)
                error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise error
            return response.json() if response.content else {}

        return self.retry.run(once, where) if idempotent else once()

    def network_id(self, ref: str) -> str | None:
        from fleeting_openstack.openstack.client import _lookup_safe

        if not _lookup_safe(ref):
            return None
        found = self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup")
        return found.id if found else None

    def server_ports(self, server_id: str) -> list[dict[str, Any]]:
        from fleeting_openstack.openstack.client import checked_id

        return self._neutron("GET", "/ports", params={"device_id": checked_id(server_id, "server id")})["ports"]

    def floating_ips(self, network_id: str) -> list[dict[str, Any]]:
        from fleeting_openstack.openstack.client import checked_id

        params = {"floating_network_id": checked_id(network_id, "network id")}
        return self._neutron("GET", "/floatingips", params=params)["floatingips"]

    def create_floating_ip(self, network_id: str, port_id: str, description: str) -> dict[str, Any]:
        body = {"floatingip": {"floating_network_id": network_id, "port_id": port_id, "description": description}}
        return self._neutron("POST", "/floatingips", ok=(201, 200), json=body)["floatingip"]

    def delete_floating_ip(self, fip_id: str) -> None:
        from fleeting_openstack.openstack.client import NotFound, checked_id

        try:
            self._neutron("DELETE", f"/floatingips/{checked_id(fip_id, 'floating IP id')}", ok=(204, 200))
        except NotFound:
            pass
