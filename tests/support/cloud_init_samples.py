"""What operators give the cloud-init strategy, and how its tests render and read it (the
unit tests in tests/unit/strategies, the real cloud-init's view in tests/validators)."""

from __future__ import annotations

import email
import email.policy
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from fleeting_openstack.host import BoundStrategy, StrategyManager
from fleeting_openstack.plugin.types import ImageInfo
from strategy_kit import Instance

#: a key the operator's own config already authorises
OLD_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDoperatorkey operator@laptop"
IMAGE = ImageInfo("img", "ubuntu-22.04", os_distro="ubuntu")


@pytest.fixture(scope="module")
def strategy(manager: StrategyManager) -> BoundStrategy:
    """The cloud-init strategy, no options."""
    return manager.strategy("cloud-init")


render = Instance("runner-5", 5, IMAGE, "runner").render


def cloud_config_parts(blob: str) -> list[str]:
    msg = email.message_from_string(blob, policy=email.policy.compat32)
    return [
        p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart() and p.get_content_type() == "text/cloud-config"
    ]


OPERATOR_CONFIG = """\
#cloud-config
# operator's worker configuration
package_update: true
packages: [docker.io, jq]
users:
  - default
  - name: bob
    groups: [docker]
    shell: /bin/bash
write_files:
  - path: /etc/docker/daemon.json
    permissions: '0644'
    content: |
      {"log-driver": "journald"}
runcmd:
  - [systemctl, enable, --now, docker]
  - echo "${HOME}" > /tmp/home
"""

SCRIPT = '#!/bin/bash\nset -eu\necho "node ${HOSTNAME:-x}" > /etc/motd\n# {{ not.ours }}\n'


def operator_multipart(*parts: tuple[str, str]) -> str:
    outer = MIMEMultipart()
    for subtype, text in parts:
        outer.attach(MIMEText(text, subtype))
    return outer.as_string()
