"""What a group leaked: ``reap``'s scan, looping over the resource kinds' handlers.

The plugin itself creates only servers (and, with ``floating_ip_pool``,
floating IPs); ports, keypairs and volumes are found so that leftovers of
Nova, of earlier versions, of the Go plugin and of site scripts that follow
the convention are cleaned up too. Each kind's rule and delete live in its own
handler (:mod:`fleeting_openstack.provider.resources`); :func:`find_leaks` runs
them all, :func:`delete_leak` deletes one through its kind's handler.

A resource is *marked* with the group when it carries the group tag
``fleeting:<group>`` or has it in its description (:func:`~.resources.kind.marked`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from fleeting_openstack.provider.resources.floatingips import FloatingIPKind
from fleeting_openstack.provider.resources.keypairs import Keypairs
from fleeting_openstack.provider.resources.kind import KINDS, Leak, LeakScan, ResourceKind
from fleeting_openstack.provider.resources.ports import Ports
from fleeting_openstack.provider.resources.servers import Servers
from fleeting_openstack.provider.resources.volumes import Volumes

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.models import Server
    from fleeting_openstack.provider.cloud import LeakCloud

__all__ = ["HANDLERS", "KINDS", "Leak", "delete_leak", "find_leaks"]

#: One handler per kind, in the order they scan (floating IPs after ports: a floating IP on a
#: leaked port is leaked too). Leaks are reported in :data:`KINDS` order.
HANDLERS: tuple[ResourceKind, ...] = (Servers(), Ports(), FloatingIPKind(), Keypairs(), Volumes())


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
    scan = LeakScan(cloud, cfg, group_servers, would_reap, say)
    for handler in HANDLERS:
        scan.found += handler.leaks(scan)
    leaks = sorted(scan.found, key=lambda leak: KINDS.index(leak.kind))
    return leaks, scan.notes


def delete_leak(cloud: LeakCloud, leak: Leak) -> None:
    """Delete one leaked resource through its kind's handler; gone already counts as deleted."""
    for handler in HANDLERS:
        if handler.kind == leak.kind:
            handler.delete(cloud, leak.id)
            return
    raise ValueError(f"unknown kind {leak.kind}")
