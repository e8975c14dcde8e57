"""What operators give the ignition and flatcar strategies, and how their tests render it
(the unit tests in tests/unit/strategies, ignition-validate's view in tests/validators)."""

from __future__ import annotations

from fleeting_openstack.plugin.types import ImageInfo
from strategy_kit import Instance

#: a key the operator's own config already authorises
OLD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorOwnKeyOperatorOwnKeyOperatorOwnKey0 admin"
IMAGE = ImageInfo("img", "flatcar-stable", {"os_version": "3815.2.2"}, os_admin_user=None, os_distro="flatcar")
#: the Ignition spec versions the strategies accept
VERSIONS = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0"]

render = Instance("runner-2", 2, IMAGE, "core").render_with


def operator_config(version: str) -> dict:
    return {
        "ignition": {"version": version},
        "passwd": {"users": [{"name": "admin", "sshAuthorizedKeys": [OLD_KEY], "groups": ["wheel"]}]},
        "storage": {
            "files": [{"path": "/etc/motd", "mode": 420, "contents": {"source": "data:,worker%20{{fleeting.instance_name}}%0A"}}]
        },
        "systemd": {"units": [{"name": "docker.service", "enabled": True}]},
    }
