"""The strategies' view of a Glance image: the one bridge from the adapter's Image to the plugin face's ImageInfo.

It lives in the provider because it needs both sides: the OpenStack adapter
knows nothing of strategies, and the plugin face loads no adapter module.
"""

from __future__ import annotations

from fleeting_openstack.openstack.models import Image
from fleeting_openstack.plugin.types import ImageInfo


def image_info(image: Image | None, placeholder: bool = False) -> ImageInfo | None:
    """The strategies' view of a Glance image (they never see SDK objects);
    None without an image, unless ``placeholder`` (then one with an empty id)."""
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
