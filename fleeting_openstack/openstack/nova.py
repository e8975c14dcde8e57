"""Nova specifics beyond servers: the user_data rules, the create body, limits and keypairs.

* **user_data**: the limit and its check live in the leaf module
  :mod:`fleeting_openstack.userdata_limit` (config, the strategy host and this
  adapter all need it). :func:`create_request` encodes the text, once, into
  the ``POST /servers`` body (built from the plain ``server_spec`` body the
  caller hands in); it does not check again.
* **limits and keypairs**: :class:`NovaExtras`, a mixin of
  :class:`~fleeting_openstack.openstack.client.Cloud`: ``compute_limits`` /
  ``flavor_size`` feed Increase's quota pre-check; ``keypairs`` /
  ``delete_keypair`` are for ``reap`` (the plugin itself creates no keypair).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from fleeting_openstack.jsontypes import JSONObject, JSONValue
from fleeting_openstack.openstack.errors import checked_id
from fleeting_openstack.openstack.models import Keypair
from fleeting_openstack.openstack.session import Session, as_object, as_objects
from fleeting_openstack.userdata_limit import RENDERED, encode_user_data


def create_request(
    body: Mapping[str, JSONValue],
    *,
    user_data: str | None,
    name: str | None = None,
    image_ref: str | None = None,
    flavor_ref: str | None = None,
    availability_zone: str | None = None,
    metadata: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
) -> JSONObject:
    """The ``POST /servers`` request for one server of the ``server_spec`` ``body``.

    Returns ``{"server": {...}}`` plus ``"os:scheduler_hints"`` when there are
    hints. ``name`` replaces the body's name (its template); ``image_ref`` /
    ``flavor_ref`` supply the IDs resolved from ``image_name`` /
    ``flavor_name`` (required then); ``availability_zone`` replaces the
    body's; ``user_data`` is the text the server
    gets (None: none), base64-encoded here; ``metadata`` / ``tags`` are added
    to the body's. Raises ValueError when a name is unresolved. The size of
    user_data was checked where the text was made (config rules, the boot
    strategy).
    """
    server: JSONObject = copy.deepcopy(dict(body))
    hints = server.pop("scheduler_hints", None)
    image_name = server.pop("image_name", None)
    flavor_name = server.pop("flavor_name", None)
    if name is not None:
        server["name"] = name
    if image_ref is not None:
        server["imageRef"] = image_ref
    elif image_name is not None:
        raise ValueError(f"server_spec.image_name {image_name!r} must be resolved: pass image_ref")
    if flavor_ref is not None:
        server["flavorRef"] = flavor_ref
    elif flavor_name is not None:
        raise ValueError(f"server_spec.flavor_name {flavor_name!r} must be resolved: pass flavor_ref")
    if availability_zone:
        server["availability_zone"] = availability_zone
    server.pop("user_data", None)
    if user_data is not None:
        server["user_data"] = encode_user_data(user_data, RENDERED)
    if metadata:
        configured = server.get("metadata")
        server["metadata"] = {**(configured if isinstance(configured, dict) else {}), **dict(metadata)}
    if tags:
        configured_tags = server.get("tags")
        current = list(configured_tags) if isinstance(configured_tags, list) else []
        server["tags"] = current + [t for t in tags if t not in current]
    request: JSONObject = {"server": server}
    if hints:
        request["os:scheduler_hints"] = hints
    return request


class NovaExtras(Session):
    # -- limits (Increase's quota pre-check) ------------------------------------
    def compute_limits(self) -> dict[str, int]:
        absolute = as_object(as_object(self._nova("GET", "/limits").get("limits")).get("absolute"))
        return {key: value for key, value in absolute.items() if isinstance(value, int)}

    def flavor_size(self, ref: str) -> dict[str, int]:
        """vCPUs and RAM of a flavor (asked once per flavor, then remembered)."""
        if ref not in self._flavor_sizes:
            doc = as_object(self._nova("GET", f"/flavors/{checked_id(ref, 'flavor id')}").get("flavor"))
            vcpus, ram = doc.get("vcpus"), doc.get("ram")
            self._flavor_sizes[ref] = {
                "vcpus": vcpus if isinstance(vcpus, int) else 0,
                "ram": ram if isinstance(ram, int) else 0,
            }
        return self._flavor_sizes[ref]

    # -- keypairs (reap) ----------------------------------------------------------
    def keypairs(self) -> list[Keypair]:
        """The project's keypairs (the user's, for Nova)."""
        listed = as_objects(self._nova("GET", "/os-keypairs").get("keypairs"))
        return [Keypair(name=str(as_object(item.get("keypair")).get("name"))) for item in listed]

    def delete_keypair(self, name: str) -> None:
        """Delete a keypair; one already gone counts as deleted."""
        self._delete("compute", f"/os-keypairs/{quote(name, safe='')}")
