"""Servers as a resource kind: the plugin creates them (:mod:`fleeting_openstack.provider.create`,
which also deletes one whose create half failed); a leak is a server the plugin would delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.provider.resources.kind import Leak, LeakScan

if TYPE_CHECKING:
    from fleeting_openstack.openstack.models import Server
    from fleeting_openstack.provider.cloud import LeakCloud


def server_leaks(servers: Iterable[Server], would_reap: Mapping[str, str]) -> list[Leak]:
    """Servers the plugin would delete at its next Update (``would_reap``: id -> why)."""
    return [Leak("server", s.id, s.name, would_reap[s.id]) for s in servers if s.id in would_reap]


class Servers:
    kind = "server"

    def leaks(self, scan: LeakScan) -> list[Leak]:
        return server_leaks(scan.group_servers, scan.would_reap)

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        from fleeting_openstack.openstack.errors import NotFound

        try:
            cloud.delete_server(resource_id)
        except NotFound:
            pass
