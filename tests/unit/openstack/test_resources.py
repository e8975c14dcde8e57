"""openstack/resources.py: every reference of server_spec resolved or reported, on the shared FakeCloud."""

from __future__ import annotations

import sys
from pathlib import Path

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.openstack.client import Image, Keypair, Port
from fleeting_openstack.openstack.resources import image_info, resolve_resources

sys.path.insert(0, str(Path(__file__).parents[2] / "support"))
from fakecloud import FakeCloud  # noqa: E402 - the support directory is put on the path first

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
NET = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
PORT = "6f1b3d7e-0a56-4d1c-9a57-6c3f1f0e2b11"
GROUP = "a9c941cb-5b34-46e0-8fc6-7471e3b77c75"
UBUNTU = Image(IMAGE, "ubuntu-24.04", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "hw_architecture": "x86_64"})


def config(**spec: object):
    server_spec = {"name": "grp-%d", "imageRef": IMAGE, "flavorRef": "f1", "networks": [{"uuid": NET}, {"port": PORT}],
                   "security_groups": ["default"], "key_name": "ops", "scheduler_hints": {"group": GROUP}}
    server_spec.update(spec)
    doc = {"name": "grp", "server_spec": server_spec, "address": {"internal_network": NET}}
    return load_plugin_config(doc, env={}).config


def whole_cloud() -> FakeCloud:
    cloud = FakeCloud(images=[UBUNTU], flavors={"m1.small": "f1"}, networks={NET: "workers"})
    cloud.ports = [Port(PORT, "", "", "")]
    cloud.security_groups = {"default"}
    cloud.keypair_list = [Keypair("ops")]
    cloud.server_groups = {GROUP}
    return cloud


def test_everything_found_is_summarised_with_its_id():
    problems: list[str] = []
    summary: list[tuple[str, str]] = []
    found = resolve_resources(whole_cloud(), config(), problems, summary)
    assert problems == []
    assert (found.image, found.image_ref, found.flavor_ref, found.internal_network) == (UBUNTU, IMAGE, "f1", "workers")
    assert found.external_network is None and found.username == ""
    assert summary == [
        ("server_spec.image", f"image 'ubuntu-24.04' ({IMAGE})"),
        ("server_spec.flavor", "flavor 'f1' (f1)"),
        ("server_spec.networks[0].uuid", f"network {NET}"),
        ("server_spec.networks[1].port", f"port {PORT}"),
        ("server_spec.security_groups[0]", "security group 'default'"),
        ("server_spec.key_name", "keypair 'ops'"),
        ("server_spec.scheduler_hints.group", f"server group {GROUP}"),
        ("address.internal_network", "network 'workers'"),
    ]


def test_every_missing_reference_is_a_problem_naming_its_path():
    problems: list[str] = []
    found = resolve_resources(FakeCloud(), config(), problems)
    assert found.image is None and found.flavor_ref == ""
    assert problems == [
        f"server_spec.imageRef: image {IMAGE!r} not found",
        "server_spec.flavorRef: flavor 'f1' not found",
        f"server_spec.networks[0].uuid: network {NET} not found",
        f"server_spec.networks[1].port: port {PORT} not found",
        "server_spec.security_groups[0]: security group 'default' not found",
        "server_spec.key_name: keypair 'ops' not found",
        f"server_spec.scheduler_hints.group: server group {GROUP} not found",
        f"address.internal_network: network {NET!r} not found",
    ]


def test_image_info_is_the_strategies_view():
    info = image_info(UBUNTU)
    assert info is not None
    assert (info.id, info.name, info.os_admin_user, info.os_distro, info.architecture) == (
        IMAGE, "ubuntu-24.04", "ubuntu", "ubuntu", "x86_64")
    assert image_info(None) is None
    placeholder = image_info(None, placeholder=True)
    assert placeholder is not None and placeholder.id == ""
