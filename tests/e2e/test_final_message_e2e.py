"""An operator's cloud-init ``final_message``, booted by the real cloud-init (issue 20 item 6).

A server of the devcloud's test driver (docs/e2e.md: image ``e2e-ubuntu``, Debian's real
cloud-init run on the user_data Nova received, its output on the serial console) is created by the
plugin's provider with strategy ``cloud-init``, a cloud-config that sets its own ``final_message``
with cloud-init's ``$UPTIME``, ``$VERSION``, ``$DATASOURCE`` and ``$TIMESTAMP``, and
``readiness.on_boot_timeout = "delete"``: the server becomes ``running`` only if readiness
recognises the operator's line (cloud-init then prints no default "finished" line); otherwise
boot_time runs out and the plugin deletes it. The console must show the operator's line, rendered
by cloud-init, and not the default one.

Needs root, the Debian package cloud-init, and the devcloud's nova-compute running the test driver
(``DEVCLOUD_COMPUTE_DRIVER=fleeting_testdriver.TestDriver``; scripts/test starts it so). Fails,
never skips, without them.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from fleeting_openstack.contract.instancegroup import ConnectorConfig, State

from devcloud.lifecycle import start, wait_gone  # noqa: E402
from sdkfind import image_named  # noqa: E402

DRIVER = "fleeting_testdriver.TestDriver"
IMAGE = ("e2e-ubuntu", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "fleeting_e2e_os": "ubuntu"})
MESSAGE = "fleeting e2e {{fleeting.instance_name}} up $UPTIME s, cloud-init $VERSION, $DATASOURCE at ${TIMESTAMP}"


def compute_driver(state: Path) -> str:
    conf = (state / "etc/nova/nova-compute.conf").read_text()
    return [line.split("=", 1)[1].strip() for line in conf.splitlines()
            if line.strip().startswith("compute_driver")][-1]


@pytest.fixture()
def e2e_image(devcloud, admin) -> str:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (the test driver's instances: namespaces, mounts, sshd)")
    if not os.access("/usr/bin/cloud-init", os.X_OK):
        problems.append("/usr/bin/cloud-init is missing: apt-get install cloud-init")
    driver = compute_driver(Path(devcloud["clouds_yaml"]).parent)
    if driver != DRIVER:
        problems.append(f"nova-compute runs compute_driver={driver}; start the devcloud with "
                        f"DEVCLOUD_COMPUTE_DRIVER={DRIVER} (docs/e2e.md)")
    if problems:
        pytest.fail("preconditions:\n  - " + "\n  - ".join(problems))
    name, props = IMAGE
    image = image_named(admin, name)
    if image is None:  # as tests/e2e/test_e2e.py makes it (public, kept for the next run)
        image = admin.image.create_image(name=name, disk_format="raw", container_format="bare",
                                         visibility="public", data=b"\0" * 16384, os_type="linux",
                                         architecture="x86_64", fleeting_e2e="true", **props)
    return image.id


@pytest.mark.usefixtures("cleanup_group")
def test_readiness_waits_for_the_operators_final_message(plugin_config, e2e_image, admin):
    cfg = plugin_config(strategy="cloud-init", boot_time="150s", readiness={"on_boot_timeout": "delete"},
                        server_spec={"imageRef": e2e_image, "user_data": f"#cloud-config\nfinal_message: '{MESSAGE}'\n"})
    provider = start(cfg, ConnectorConfig(username="ubuntu"))
    try:
        assert provider.increase(1) == 1
        deadline, seen = time.time() + 240, {}
        while time.time() < deadline:
            seen = dict(provider.update())
            if set(seen.values()) & {State.RUNNING, State.DELETING, State.DELETED, State.TIMEOUT}:
                break
            time.sleep(3)
        [(server_id, state)] = seen.items()
        console = admin.compute.get_server_console_output(server_id)["output"]
        assert state is State.RUNNING, f"{state}; console tail:\n{console[-3000:]}"
        # cloud-init rendered the operator's message, and printed no default line
        name = admin.compute.get_server(server_id).name
        line = re.search(rf"fleeting e2e {re.escape(name)} up [0-9.]+ s, cloud-init \S+, DataSourceNoCloud.* at "
                         r"\w{3}, \d\d \w{3} \d{4} [0-9:]{8} [+-]\d{4}", console)
        assert line, console[-3000:]
        assert "Cloud-init v. " not in console or " finished at " not in console
        [(server, verdict)] = provider.assessments()
        assert "the operator's final_message" in verdict.reason, verdict
        assert provider.decrease([server_id]) == [server_id]
        wait_gone(provider, timeout=120)
    finally:
        provider.close()
