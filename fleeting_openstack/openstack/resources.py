"""Every resource ``server_spec`` references, looked up: found (with its id) or a problem.

:func:`resolve_resources` is the one walk over the image, flavor, networks,
ports, security groups, keypair, server group and the address networks. Init
and ``validate --check-cloud`` both reach it through
:func:`fleeting_openstack.provider.initchecks.run`, so what one accepts the
other does; each reference gives a ``"path: problem"`` line when it is
missing and a ``(path, what it is)`` summary line for ``validate``'s report.
:func:`image_info` is the strategies' view of the image found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.openstack.errors import NotFound
from fleeting_openstack.openstack.models import Image

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.plugin.types import ImageInfo


class ResourceLookups(Protocol):
    """The adapter's lookups (:class:`~fleeting_openstack.openstack.client.Cloud`) this module needs."""

    def image(self, ref: str | None = None, name: str | None = None) -> Image: ...
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


def resolve_resources(
    cloud: ResourceLookups, cfg: PluginConfig, problems: list[str], summary: list[tuple[str, str]] | None = None
) -> Resolved:
    """Look up everything server_spec references; append "path: problem" for each miss
    to ``problems`` and (path, what it resolved to) to ``summary``.

    Shared by Init and ``validate --check-cloud``. ``username`` is left empty.
    """
    said = summary if summary is not None else []
    spec = cfg.server_spec
    body = spec.body
    image = None
    image_ref = body.get("imageRef") or None
    try:
        if image_ref or body.get("image_name"):
            image = cloud.image(ref=image_ref, name=body.get("image_name"))
            image_ref = image.id
        else:
            boot = [
                b
                for b in body.get("block_device_mapping_v2", [])
                if b.get("source_type") == "image" and str(b.get("boot_index", "0")) == "0"
            ]
            if boot:
                image = cloud.image(ref=boot[0].get("uuid"))
    except NotFound as exc:
        problems.append(f"server_spec.{'imageRef' if body.get('imageRef') else 'image_name'}: {exc}")
    if image is not None:
        said.append(("server_spec.image", f"image {image.name!r} ({image.id})"))
    flavor_ref = ""
    try:
        flavor_ref = cloud.flavor_id(ref=body.get("flavorRef"), name=body.get("flavor_name"))
    except NotFound as exc:
        problems.append(f"server_spec.{'flavorRef' if body.get('flavorRef') else 'flavor_name'}: {exc}")
    if flavor_ref:
        said.append(
            ("server_spec.flavor", f"flavor {body.get('flavor_name') or body.get('flavorRef')!r} ({flavor_ref})")
        )
    networks = body.get("networks")
    # Each reference is either a problem (not found) or a resolved line, never both.
    if isinstance(networks, list):
        for i, net in enumerate(networks):
            for kind, exists in (("uuid", cloud.network_exists), ("port", cloud.port_exists)):
                what = "network" if kind == "uuid" else "port"
                if not net.get(kind):
                    continue
                if exists(net[kind]):
                    said.append((f"server_spec.networks[{i}].{kind}", f"{what} {net[kind]}"))
                else:
                    problems.append(f"server_spec.networks[{i}].{kind}: {what} {net[kind]} not found")
    for i, group in enumerate(body.get("security_groups") or []):
        ref = group.get("name") if isinstance(group, dict) else group
        if ref and not cloud.security_group_exists(ref):
            problems.append(f"server_spec.security_groups[{i}]: security group {ref!r} not found")
        else:
            said.append((f"server_spec.security_groups[{i}]", f"security group {ref!r}"))
    if body.get("key_name"):
        if not cloud.keypair_exists(body["key_name"]):
            problems.append(f"server_spec.key_name: keypair {body['key_name']!r} not found")
        else:
            said.append(("server_spec.key_name", f"keypair {body['key_name']!r}"))
    group = (spec.scheduler_hints or {}).get("group")
    if isinstance(group, str) and group:
        if not cloud.server_group_exists(group):
            problems.append(f"server_spec.scheduler_hints.group: server group {group} not found")
        else:
            said.append(("server_spec.scheduler_hints.group", f"server group {group}"))

    internal = external = None
    if cfg.address.internal_network:
        internal = cloud.network_name(cfg.address.internal_network)
        if internal is None:
            problems.append(f"address.internal_network: network {cfg.address.internal_network!r} not found")
    if cfg.address.external_network:
        external = cloud.network_name(cfg.address.external_network)
        if external is None:
            problems.append(f"address.external_network: network {cfg.address.external_network!r} not found")
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


def image_info(image: Image | None, placeholder: bool = False) -> ImageInfo | None:
    """The strategies' view of a Glance image (they never see SDK objects);
    None without an image, unless ``placeholder`` (then one with an empty id)."""
    from fleeting_openstack.plugin.types import ImageInfo

    if image is None:
        return ImageInfo(id="") if placeholder else None
    p = image.properties
    return ImageInfo(
        id=image.id,
        name=image.name,
        properties=p,
        os_admin_user=p.get("os_admin_user"),
        os_type=p.get("os_type"),
        os_distro=p.get("os_distro"),
        architecture=p.get("architecture") or p.get("hw_architecture"),
    )
