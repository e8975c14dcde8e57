"""Every resource ``server_spec`` references, looked up: found (with its id) or a problem.

:func:`resolve_resources` is the one walk over the image, flavor, networks,
ports, security groups, keypair, server group and the address networks. Init
and ``validate --check-cloud`` both reach it through the provider's Init
checks, so what one accepts the other does; each reference gives a
``"path: problem"`` line when it is missing and a ``(path, what it is)``
summary line for ``validate``'s report. It takes plain values (the
``server_spec`` body and the address networks), never the plugin's config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from fleeting_openstack.jsontypes import JSONValue
from fleeting_openstack.openstack.errors import NotFound
from fleeting_openstack.openstack.models import Image


class ResourceLookups(Protocol):
    """The adapter's lookups (:class:`~fleeting_openstack.openstack.client.Cloud`) this module needs."""

    def image(
        self, ref: str | None = None, name: str | None = None, properties: Mapping[str, str] | None = None
    ) -> Image: ...
    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str: ...
    def network_exists(self, ref: str) -> bool: ...
    def network_name(self, ref: str) -> str | None: ...
    def port_exists(self, ref: str) -> bool: ...
    def security_group_exists(self, ref: str) -> bool: ...
    def keypair_exists(self, name: str) -> bool: ...
    def server_group_exists(self, ref: str) -> bool: ...


@dataclass(frozen=True)
class Resolved:
    """What Init resolved once, so Increase does no lookups."""

    image: Image | None
    image_ref: str | None
    flavor_ref: str
    username: str
    internal_network: str | None
    external_network: str | None


def _text(value: JSONValue) -> str | None:
    """A reference's text (flavor ids may be numbers); None when unset or not a scalar."""
    if value is None or value == "" or isinstance(value, (bool, list, dict)):
        return None
    return str(value)


def _objects(value: JSONValue) -> list[Mapping[str, JSONValue]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def resolve_resources(
    cloud: ResourceLookups,
    body: Mapping[str, JSONValue],
    problems: list[str],
    summary: list[tuple[str, str]] | None = None,
    *,
    internal_network: str | None = None,
    external_network: str | None = None,
    image_properties: Mapping[str, str] | None = None,
) -> Resolved:
    """Look up everything the ``server_spec`` ``body`` and the address networks
    reference; append "path: problem" for each miss to ``problems`` and
    (path, what it resolved to) to ``summary``.

    Shared by Init and ``validate --check-cloud``. ``username`` is left empty. ``image_properties``
    narrows ``image_name`` (plugin_config's ``image_properties``): the newest active match wins.
    """
    said = summary if summary is not None else []
    image = None
    image_ref = _text(body.get("imageRef"))
    image_name = _text(body.get("image_name"))
    try:
        if image_ref:
            image = cloud.image(ref=image_ref)
            image_ref = image.id
        elif image_name:
            image = cloud.image(name=image_name, properties=image_properties or None)
            image_ref = image.id
        else:
            boot = [
                b
                for b in _objects(body.get("block_device_mapping_v2"))
                if b.get("source_type") == "image" and str(b.get("boot_index", "0")) == "0"
            ]
            if boot:
                image = cloud.image(ref=_text(boot[0].get("uuid")))
    except NotFound as exc:
        problems.append(f"server_spec.{'imageRef' if body.get('imageRef') else 'image_name'}: {exc}")
    if image is not None:
        said.append(("server_spec.image", f"image {image.name!r} ({image.id})"))
    flavor_ref = ""
    flavor_id, flavor_name = _text(body.get("flavorRef")), _text(body.get("flavor_name"))
    try:
        flavor_ref = cloud.flavor_id(ref=flavor_id, name=flavor_name)
    except NotFound as exc:
        problems.append(f"server_spec.{'flavorRef' if flavor_id else 'flavor_name'}: {exc}")
    if flavor_ref:
        said.append(("server_spec.flavor", f"flavor {flavor_name or flavor_id!r} ({flavor_ref})"))
    # Each reference is either a problem (not found) or a resolved line, never both.
    for i, net in enumerate(_objects(body.get("networks"))):
        for kind, exists in (("uuid", cloud.network_exists), ("port", cloud.port_exists)):
            what = "network" if kind == "uuid" else "port"
            ref = _text(net.get(kind))
            if not ref:
                continue
            if exists(ref):
                said.append((f"server_spec.networks[{i}].{kind}", f"{what} {ref}"))
            else:
                problems.append(f"server_spec.networks[{i}].{kind}: {what} {ref} not found")
    groups = body.get("security_groups")
    for i, group in enumerate(groups if isinstance(groups, list) else []):
        ref = _text(group.get("name") if isinstance(group, dict) else group)
        if ref and not cloud.security_group_exists(ref):
            problems.append(f"server_spec.security_groups[{i}]: security group {ref!r} not found")
        else:
            said.append((f"server_spec.security_groups[{i}]", f"security group {ref!r}"))
    key_name = _text(body.get("key_name"))
    if key_name:
        if not cloud.keypair_exists(key_name):
            problems.append(f"server_spec.key_name: keypair {key_name!r} not found")
        else:
            said.append(("server_spec.key_name", f"keypair {key_name!r}"))
    hints = body.get("scheduler_hints")
    server_group = _text(hints.get("group")) if isinstance(hints, dict) else None
    if server_group:
        if not cloud.server_group_exists(server_group):
            problems.append(f"server_spec.scheduler_hints.group: server group {server_group} not found")
        else:
            said.append(("server_spec.scheduler_hints.group", f"server group {server_group}"))

    internal = external = None
    if internal_network:
        internal = cloud.network_name(internal_network)
        if internal is None:
            problems.append(f"address.internal_network: network {internal_network!r} not found")
    if external_network:
        external = cloud.network_name(external_network)
        if external is None:
            problems.append(f"address.external_network: network {external_network!r} not found")
    for label, value in (("address.internal_network", internal), ("address.external_network", external)):
        if value:
            said.append((label, f"network {value!r}"))
    return Resolved(
        image=image,
        image_ref=image_ref,
        flavor_ref=flavor_ref,
        username="",
        internal_network=internal,
        external_network=external,
    )
