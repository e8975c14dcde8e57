"""Neutron ports as a resource kind: Nova makes them for the plugin's servers (the plugin creates none);
a leak is a marked port no server uses, or one still bound to a deleted group server."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.provider.resources.kind import Leak, LeakScan, marked

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.models import Port, Server
    from fleeting_openstack.provider.cloud import LeakCloud


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


class Ports:
    kind = "port"

    def leaks(self, scan: LeakScan) -> list[Leak]:
        live = {s.id for s in scan.live()}
        scan.say("listing Neutron ports")
        return port_leaks(scan.cloud.project_ports(), live, scan.cfg, scan.tag, scan.deleted)

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        cloud.delete_port(resource_id)
