"""What a group leaked, per resource kind: the rules ``reap`` lists and deletes by,
and the one the provider releases stray floating IPs by.

The plugin itself creates only servers (and, with ``floating_ip_pool``,
floating IPs); ports, keypairs and volumes are found so that leftovers of
Nova, of earlier versions, of the Go plugin and of site scripts that follow
the convention are cleaned up too. Each kind has a pure function over what the
adapter listed (``*_leaks``); :func:`find_leaks` lists through the adapter and
applies them all; :func:`delete_leak` deletes one. :func:`stray_floating_ips`
is the provider's own rule (:mod:`.floatingip`, at every full resync).

A resource is *marked* with the group when it carries the group tag
``fleeting:<group>`` or has it in its description (:func:`marked`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_CLUSTER, group_tag, keypair_name, name_pattern, name_prefix
from fleeting_openstack.openstack.models import FloatingIP, Keypair, Port, Server, Volume
from fleeting_openstack.provider.cloud import LeakCloud

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.jsontypes import JSONObject

#: The kinds, in the order ``reap --yes`` deletes them.
KINDS = ("server", "floating_ip", "port", "keypair", "volume")


@dataclass
class Leak:
    kind: str  # one of KINDS
    id: str
    name: str
    reason: str
    action: str = "would delete"  # "would delete" | "deleted" | "failed"
    error: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "reason": self.reason,
            "action": self.action,
            "error": self.error,
        }


def marked(resource: Port | FloatingIP | Volume, tag: str) -> str:
    """How ``resource`` is marked with the group tag ``tag`` ("" if not): by a tag, or by its description."""
    if tag in resource.tags:
        return f"carries the group tag {tag}"
    if tag in resource.description:
        return f"its description contains {tag}"
    return ""


class DeletedServers:
    """Deleted servers of the group (Nova keeps them, without metadata or tags, until
    its database is archived), found by the group's name pattern; listed once, when first needed."""

    def __init__(self, cloud: LeakCloud, template: str, say: Callable[[str], None] = lambda text: None) -> None:
        self.cloud = cloud
        self.template = template
        self.say = say
        self._found: dict[str, Server] | None = None

    def __call__(self) -> dict[str, Server]:
        if self._found is None:
            self.say("listing deleted servers of the group")
            names = name_pattern(self.template)
            found = self.cloud.list_servers(
                {"changes-since": "1970-01-01T00:00:00Z", "name": "^" + re.escape(name_prefix(self.template))}
            )
            self._found = {s.id: s for s in found if s.status.upper() == "DELETED" and names.fullmatch(s.name)}
        return self._found


# -- the rules, one per kind ---------------------------------------------------------


def server_leaks(servers: Iterable[Server], would_reap: Mapping[str, str]) -> list[Leak]:
    """Servers the plugin would delete at its next Update (``would_reap``: id -> why)."""
    return [Leak("server", s.id, s.name, would_reap[s.id]) for s in servers if s.id in would_reap]


def port_leaks(
    ports: Iterable[Port], live_ids: set[str], cfg: PluginConfig, tag: str, deleted: Callable[[], Mapping[str, Server]]
) -> list[Leak]:
    """Marked ports no existing server uses, and ports still bound to a deleted group server;
    never a port named in ``server_spec.networks[].port``."""
    networks = cfg.server_spec.networks
    keep = {n.get("port") for n in networks if isinstance(n, Mapping)} if isinstance(networks, list) else set()
    leaks = []
    for port in ports:
        if port.id in keep:
            continue
        device, owner = port.device_id, port.device_owner
        if device and (device in live_ids or not owner.startswith("compute:")):
            continue  # in use by a server that exists, or by a router, DHCP...
        how = marked(port, tag)
        if how:
            leaks.append(
                Leak(
                    "port",
                    port.id,
                    port.name,
                    f"{how}; {f'device {device} is gone' if device else 'attached to nothing'}",
                )
            )
        elif owner.startswith("compute:") and device and device in deleted():
            leaks.append(
                Leak(
                    "port",
                    port.id,
                    port.name,
                    f"still bound to deleted group server {deleted()[device].name} ({device})",
                )
            )
    return leaks


def floating_ip_leaks(fips: Iterable[FloatingIP], leaked_ports: set[str], tag: str) -> list[Leak]:
    """Floating IPs on a leaked port, and marked ones associated with no port."""
    leaks = []
    for fip in fips:
        if fip.port_id in leaked_ports:
            leaks.append(Leak("floating_ip", fip.id, fip.address, f"associated with leaked port {fip.port_id}"))
        elif not fip.port_id and marked(fip, tag):
            leaks.append(Leak("floating_ip", fip.id, fip.address, f"{marked(fip, tag)}; not associated"))
    return leaks


def keypair_leaks(keypairs: Iterable[Keypair], live_names: set[str], cfg: PluginConfig, tag: str) -> list[Leak]:
    """Keypairs named for the group, or like a group server that no longer exists;
    never ``server_spec.key_name``."""
    configured = cfg.server_spec.body.get("key_name")
    own = (keypair_name(cfg.name), tag)
    names = name_pattern(cfg.server_spec.name_template)
    leaks = []
    for kp in keypairs:
        if kp.name == configured:
            continue  # the operator's keypair, used by every server: never
        if kp.name in own or kp.name.startswith(own[0] + "-"):
            leaks.append(Leak("keypair", kp.name, kp.name, "named for the group"))
        elif names.fullmatch(kp.name) and kp.name not in live_names:
            leaks.append(Leak("keypair", kp.name, kp.name, "named like a group server that no longer exists"))
    return leaks


def volume_leaks(
    volumes: Iterable[Volume], cfg: PluginConfig, tag: str, deleted: Callable[[], Mapping[str, Server]]
) -> list[Leak]:
    """Available, unattached volumes that are marked, that Nova made for a deleted group
    server (``<id>-blank-vol``), or unnamed ones created while a deleted group server was
    building when ``block_device_mapping_v2`` makes volumes without ``delete_on_termination``."""
    bdm = [
        b
        for b in cfg.server_spec.block_device_mapping_v2
        if b.get("destination_type") == "volume"
        and b.get("source_type") in ("image", "blank", "snapshot")
        and not b.get("delete_on_termination")
    ]
    leaks = []
    for vol in volumes:
        if vol.status != "available" or vol.attached:
            continue
        if vol.metadata.get(META_CLUSTER) == cfg.name or marked(vol, tag):
            leaks.append(Leak("volume", vol.id, vol.name, "marked with the group (metadata/description)"))
            continue
        if vol.name.endswith("-blank-vol") and vol.name[: -len("-blank-vol")] in deleted():
            owner = deleted()[vol.name[: -len("-blank-vol")]]
            leaks.append(
                Leak("volume", vol.id, vol.name, f"blank volume Nova made for deleted group server {owner.name}")
            )
            continue
        if bdm and not vol.name:
            building = _building_at(deleted, vol.created, cfg.build_timeout) if vol.created is not None else None
            if building is not None and any(not b.get("volume_size") or b.get("volume_size") == vol.size for b in bdm):
                leaks.append(
                    Leak(
                        "volume",
                        vol.id,
                        vol.name,
                        f"unnamed volume created while deleted group server {building.name} was "
                        "building (block_device_mapping_v2 without delete_on_termination)",
                    )
                )
    return leaks


def _building_at(deleted: Callable[[], Mapping[str, Server]], when: float, build_timeout: float) -> Server | None:
    for server in deleted().values():
        if server.created - 5 <= when <= server.created + build_timeout:
            return server
    return None


# -- all of them, through the adapter --------------------------------------------------


def find_leaks(
    cloud: LeakCloud,
    cfg: PluginConfig,
    group_servers: Sequence[Server],
    would_reap: Mapping[str, str],
    say: Callable[[str], None] = lambda text: None,
) -> tuple[list[Leak], list[str]]:
    """What the group leaked, and notes about what could not be checked.

    ``group_servers``: the group's servers as the provider evaluated them;
    ``would_reap``: those of them it would delete, with why. Rules:

    * **servers**: those the plugin would delete at its next Update (ERROR,
      SHUTOFF and the other unusable statuses, stuck in BUILD longer than
      ``build_timeout``, failed boots, ``on_boot_timeout = "delete"``);
    * **ports**: tagged ``fleeting:<group>`` (or with that in their
      description) and not used by an existing server; or still bound
      (``device_owner compute:*``) to a *deleted* server of the group (found in
      Nova's deleted servers by the group's name pattern). Ports named in
      ``server_spec.networks[].port`` are never touched;
    * **floating IPs**: associated with such a port, or tagged/described like
      above and not associated with an existing port;
    * **keypairs**: named ``fleeting-<group>``, ``fleeting-<group>-*`` or
      ``fleeting:<group>``, or named like a group server that no longer
      exists; never ``server_spec.key_name``;
    * **volumes** (``available`` and unattached only): metadata
      ``fleeting-cluster=<group>`` or tagged/described like above;
      ``<server-id>-blank-vol`` of a deleted group server; or, when
      ``block_device_mapping_v2`` creates volumes without
      ``delete_on_termination``, an unnamed volume (Nova names them "")
      created while a deleted group server was building.
    """
    tag = group_tag(cfg.name)
    deleted = DeletedServers(cloud, cfg.server_spec.name_template, say)
    notes: list[str] = []
    leaks = server_leaks(group_servers, would_reap)
    say("listing the project's servers")
    live = list(cloud.list_servers({}))
    say("listing Neutron ports")
    ports = port_leaks(cloud.project_ports(), {s.id for s in live}, cfg, tag, deleted)
    say("listing floating IPs")
    leaks += floating_ip_leaks(cloud.project_floating_ips(), {p.id for p in ports}, tag)
    leaks += ports
    say("listing keypairs")
    leaks += keypair_leaks(cloud.keypairs(), {s.name for s in live}, cfg, tag)
    if cloud.has_block_storage():
        say("listing volumes")
        leaks += volume_leaks(cloud.volumes(), cfg, tag, deleted)
    else:
        notes.append("no block-storage (Cinder) service in the catalog: volumes not checked")
    leaks.sort(key=lambda leak: KINDS.index(leak.kind))
    return leaks, notes


def delete_leak(cloud: LeakCloud, leak: Leak) -> None:
    """Delete one leaked resource; gone already counts as deleted."""
    from fleeting_openstack.openstack.errors import NotFound

    if leak.kind == "server":
        try:
            cloud.delete_server(leak.id)
        except NotFound:
            pass
    elif leak.kind == "floating_ip":
        cloud.delete_floating_ip(leak.id)
    elif leak.kind == "port":
        cloud.delete_port(leak.id)
    elif leak.kind == "keypair":
        cloud.delete_keypair(leak.id)
    elif leak.kind == "volume":
        cloud.delete_volume(leak.id)
    else:  # pragma: no cover
        raise ValueError(f"unknown kind {leak.kind}")


# -- the provider's own rule: floating IPs of members that left -------------------------


def floating_ip_description(tag: str, server_id: str) -> str:
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
