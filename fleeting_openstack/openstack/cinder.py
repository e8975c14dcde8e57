"""Cinder calls of the adapter: only ``reap`` lists and deletes volumes (the plugin creates none itself).

A mixin of :class:`~fleeting_openstack.openstack.client.Cloud`.
"""

from __future__ import annotations

from fleeting_openstack.openstack.models import Volume, volume_from_sdk
from fleeting_openstack.openstack.session import Session

#: Catalog types under which clouds register Cinder.
BLOCK_STORAGE_TYPES = frozenset({"block-storage", "volumev3", "volumev2", "volume"})


class CinderCalls(Session):
    def has_block_storage(self) -> bool:
        """Whether the catalog has a block-storage (Cinder) service."""
        return bool(self.service_types() & BLOCK_STORAGE_TYPES)

    def volumes(self) -> list[Volume]:
        """The project's volumes, with details."""
        return self._sdk(
            lambda: [volume_from_sdk(v) for v in self.conn.block_storage.volumes(details=True)], "volume listing"
        )

    def delete_volume(self, volume_id: str) -> None:
        """Delete a volume; one already gone counts as deleted."""
        self._sdk(lambda: self.conn.block_storage.delete_volume(volume_id, ignore_missing=True), "volume delete")
