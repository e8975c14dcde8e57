"""Cinder calls of the adapter: only ``reap`` lists and deletes volumes (the plugin creates none itself).

A mixin of :class:`~fleeting_openstack.openstack.client.Cloud`.
"""

from __future__ import annotations

from fleeting_openstack.openstack.errors import checked_id
from fleeting_openstack.openstack.models import Volume, volume_from_doc
from fleeting_openstack.openstack.session import Session, as_objects

#: Catalog types under which clouds register Cinder.
BLOCK_STORAGE_TYPES = frozenset({"block-storage", "volumev3", "volumev2", "volume"})


class CinderCalls(Session):
    def has_block_storage(self) -> bool:
        """Whether the catalog has a block-storage (Cinder) service."""
        return bool(self.service_types() & BLOCK_STORAGE_TYPES)

    def volumes(self) -> list[Volume]:
        """The project's volumes, with details."""
        listed = self._call("block-storage", "GET", "/volumes/detail").get("volumes")
        return [volume_from_doc(v) for v in as_objects(listed)]

    def delete_volume(self, volume_id: str) -> None:
        """Delete a volume; one already gone counts as deleted."""
        self._delete("block-storage", f"/volumes/{checked_id(volume_id, 'volume id')}")
