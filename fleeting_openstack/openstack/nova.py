"""Nova specifics beyond servers: the user_data rules, the create body, limits and keypairs.

* **user_data**: the limit and its check live in the leaf module
  :mod:`fleeting_openstack.userdata_limit` (config, the strategy host and this
  adapter all need it). :func:`create_request` encodes the text, once, into
  the ``POST /servers`` body; it does not check again.
* **limits and keypairs**: :class:`NovaExtras`, a mixin of
  :class:`~fleeting_openstack.openstack.client.Cloud`: ``compute_limits`` /
  ``flavor_size`` feed Increase's quota pre-check; ``keypairs`` /
  ``delete_keypair`` are for ``reap`` (the plugin itself creates no keypair).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fleeting_openstack.openstack.errors import checked_id
from fleeting_openstack.openstack.models import Keypair
from fleeting_openstack.openstack.session import Session
from fleeting_openstack.userdata_limit import CONFIGURED, RENDERED, encode_user_data

if TYPE_CHECKING:
    from fleeting_openstack.config import ServerSpec


class _Keep:
    def __repr__(self) -> str:
        return "<keep>"


#: ``create_request(user_data=KEEP)``: the configured text (the default).
KEEP: Any = _Keep()


def create_request(
    spec: ServerSpec,
    *,
    index: int | None = None,
    image_ref: str | None = None,
    flavor_ref: str | None = None,
    user_data: str | None = KEEP,
    metadata: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``POST /servers`` request body for one server of ``spec`` (``server_spec``).

    Returns ``{"server": {...}}`` plus ``"os:scheduler_hints"`` when there are
    hints. ``index`` renders the name; ``image_ref``/``flavor_ref`` supply
    the IDs resolved from ``image_name``/``flavor_name`` (required then);
    ``user_data`` replaces the configured text (None removes it) and is
    base64-encoded; ``metadata``/``tags`` are added to the configured ones.
    Raises ValueError when a name is unresolved. The size of user_data was
    checked where the text was made (config rules, the boot strategy).
    """
    server = copy.deepcopy(dict(spec.body))
    hints = server.pop("scheduler_hints", None)
    image_name = server.pop("image_name", None)
    flavor_name = server.pop("flavor_name", None)
    if index is not None:
        server["name"] = spec.render_name(index)
    if image_ref is not None:
        server["imageRef"] = image_ref
    elif image_name is not None:
        raise ValueError(f"server_spec.image_name {image_name!r} must be resolved: pass image_ref")
    if flavor_ref is not None:
        server["flavorRef"] = flavor_ref
    elif flavor_name is not None:
        raise ValueError(f"server_spec.flavor_name {flavor_name!r} must be resolved: pass flavor_ref")
    text = spec.user_data if user_data is KEEP else user_data
    server.pop("user_data", None)
    if text is not None:
        server["user_data"] = encode_user_data(text, CONFIGURED if user_data is KEEP else RENDERED)
    if metadata:
        server["metadata"] = {**(server.get("metadata") or {}), **dict(metadata)}
    if tags:
        current = list(server.get("tags") or [])
        server["tags"] = current + [t for t in tags if t not in current]
    request: dict[str, Any] = {"server": server}
    if hints:
        request["os:scheduler_hints"] = hints
    return request


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
