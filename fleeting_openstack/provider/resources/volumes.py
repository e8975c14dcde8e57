"""Cinder volumes as a resource kind: Nova makes them from ``block_device_mapping_v2`` (the plugin
creates none); a leak is an available, unattached volume of the group or of a deleted group server."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_CLUSTER
from fleeting_openstack.provider.resources.kind import Leak, LeakScan, marked

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.models import Server, Volume
    from fleeting_openstack.provider.cloud import LeakCloud

NO_CINDER = "no block-storage (Cinder) service in the catalog: volumes not checked"


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


class Volumes:
    kind = "volume"

    def leaks(self, scan: LeakScan) -> list[Leak]:
        if not scan.cloud.has_block_storage():
            scan.notes.append(NO_CINDER)
            return []
        scan.say("listing volumes")
        return volume_leaks(scan.cloud.volumes(), scan.cfg, scan.tag, scan.deleted)

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        cloud.delete_volume(resource_id)
