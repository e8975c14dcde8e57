"""Nova specifics beyond servers: the limits of Increase's quota pre-check, and keypairs.

A mixin of :class:`~fleeting_openstack.openstack.client.Cloud` (the one
adapter): ``compute_limits``/``flavor_size`` feed the quota pre-check;
``keypairs``/``delete_keypair`` are for ``reap`` (the plugin itself creates
no keypair).
"""

from __future__ import annotations

from fleeting_openstack.openstack.errors import checked_id
from fleeting_openstack.openstack.models import Keypair
from fleeting_openstack.openstack.session import Session


class NovaExtras(Session):
    # -- limits (Increase's quota pre-check) ------------------------------------
    def compute_limits(self) -> dict[str, int]:
        return dict((self._nova("GET", "/limits") or {}).get("limits", {}).get("absolute", {}))

    def flavor_size(self, ref: str) -> dict[str, int]:
        """vCPUs and RAM of a flavor (asked once per flavor, then remembered)."""
        cache: dict[str, dict[str, int]] = self.__dict__.setdefault("_flavor_sizes", {})
        if ref not in cache:
            doc = self._nova("GET", f"/flavors/{checked_id(ref, 'flavor id')}")["flavor"]
            cache[ref] = {"vcpus": int(doc.get("vcpus") or 0), "ram": int(doc.get("ram") or 0)}
        return cache[ref]

    # -- keypairs (reap) ----------------------------------------------------------
    def keypairs(self) -> list[Keypair]:
        """The project's keypairs (the user's, for Nova)."""
        return self._sdk(lambda: [Keypair(name=kp.name) for kp in self.conn.compute.keypairs()], "keypair listing")

    def delete_keypair(self, name: str) -> None:
        """Delete a keypair; one already gone counts as deleted."""
        self._sdk(lambda: self.conn.compute.delete_keypair(name, ignore_missing=True), "keypair delete")
