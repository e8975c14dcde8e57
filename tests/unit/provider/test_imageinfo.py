"""provider/imageinfo.py: the strategies' view of the adapter's Glance image."""

from __future__ import annotations

from fleeting_openstack.openstack.models import Image
from fleeting_openstack.provider.imageinfo import image_info

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
UBUNTU = Image(IMAGE, "ubuntu-24.04", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "hw_architecture": "x86_64"})


def test_image_info_is_the_strategies_view():
    info = image_info(UBUNTU)
    assert info is not None
    assert (info.id, info.name, info.os_admin_user, info.os_distro, info.architecture) == (
        IMAGE, "ubuntu-24.04", "ubuntu", "ubuntu", "x86_64")
    assert image_info(None) is None
    placeholder = image_info(None, placeholder=True)
    assert placeholder is not None and placeholder.id == ""
