"""openstack/resources.py: every reference of server_spec resolved or reported, on the shared FakeCloud
(plain values in: the server_spec body and the address networks, read here from a loaded config)."""

from __future__ import annotations

import sys
from pathlib import Path

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.openstack.client import Image, Keypair, Port
from fleeting_openstack.openstack.resources import Resolved, resolve_resources

sys.path.insert(0, str(Path(__file__).parents[2] / "support"))
from fakecloud import FakeCloud  # noqa: E402 - the support directory is put on the path first

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
NET = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
PORT = "6f1b3d7e-0a56-4d1c-9a57-6c3f1f0e2b11"
GROUP = "a9c941cb-5b34-46e0-8fc6-7471e3b77c75"
UBUNTU = Image(IMAGE, "ubuntu-24.04", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "hw_architecture": "x86_64"})


def resolve(cloud: FakeCloud, problems: list[str], summary: list[tuple[str, str]] | None = None) -> Resolved:
    server_spec = {"name": "grp-%d", "imageRef": IMAGE, "flavorRef": "f1", "networks": [{"uuid": NET}, {"port": PORT}],
                   "security_groups": ["default"], "key_name": "ops", "scheduler_hints": {"group": GROUP}}
    doc = {"name": "grp", "server_spec": server_spec, "address": {"internal_network": NET}}
    cfg = load_plugin_config(doc, env={}).config
    return resolve_resources(cloud, cfg.server_spec.body, problems, summary,
                             internal_network=cfg.address.internal_network,
                             external_network=cfg.address.external_network)


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
    found = resolve(whole_cloud(), problems, summary)
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
    found = resolve(FakeCloud(), problems)
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


def test_a_body_of_plain_json_values_is_enough():
    """No config object: the body as JSON, with a numeric flavorRef and a boot volume from an image."""
    problems: list[str] = []
    body = {"flavorRef": 1, "networks": "none",
            "block_device_mapping_v2": [{"source_type": "image", "uuid": IMAGE, "boot_index": 0}]}
    found = resolve_resources(FakeCloud(images=[UBUNTU], flavors={"m1.small": "1"}), body, problems)
    assert problems == [] and found.image == UBUNTU and found.image_ref is None and found.flavor_ref == "1"
