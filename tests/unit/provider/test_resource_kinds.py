"""provider/resources/: one handler per resource kind, and the floating IP's lifecycle (on FakeCloud)."""

from __future__ import annotations

import pytest
from support.fakecloud import FakeCloud, member

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import group_tag
from fleeting_openstack.openstack.client import CloudError, FloatingIP, Keypair, Port
from fleeting_openstack.provider.leaks import HANDLERS, KINDS, Leak, delete_leak, find_leaks
from fleeting_openstack.provider.resources.floatingips import FloatingIPs, description
from fleeting_openstack.provider.resources.kind import LeakScan
from fleeting_openstack.provider.resources.volumes import NO_CINDER, Volumes

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
POOL = "44444444-4444-4444-8444-444444444444"
TAG = group_tag("g")


def cfg():
    return load_plugin_config({"name": "g", "server_spec": {"name": "g-%d", "imageRef": IMAGE, "flavorRef": "f",
                                                             "networks": "none"}}, env={}).config


def test_one_handler_per_kind():
    assert sorted(h.kind for h in HANDLERS) == sorted(KINDS)


def test_each_kind_deletes_through_its_handler():
    cloud = FakeCloud()
    cloud.add(member("s1"))
    cloud.ports = [Port("p1", "", "", "")]
    cloud.fips = [FloatingIP("f1", "203.0.113.1", "")]
    cloud.keypair_list = [Keypair("fleeting-g")]
    for kind, rid in [("server", "s1"), ("floating_ip", "f1"), ("port", "p1"), ("keypair", "fleeting-g"),
                      ("volume", "v1")]:
        delete_leak(cloud, Leak(kind, rid, rid, "test"))
    assert cloud.deleted == ["s1"]
    assert cloud.removed == [("floating_ip", "f1"), ("port", "p1"), ("keypair", "fleeting-g"), ("volume", "v1")]
    delete_leak(cloud, Leak("server", "gone", "", "test"))  # gone already counts as deleted
    with pytest.raises(ValueError, match="unknown kind"):
        delete_leak(cloud, Leak("network", "n", "", "test"))


def test_volumes_without_cinder_are_a_note_not_a_failure():
    cloud = FakeCloud()
    cloud.cinder = False
    scan = LeakScan(cloud, cfg(), [], {})
    assert Volumes().leaks(scan) == [] and scan.notes == [NO_CINDER]
    assert find_leaks(cloud, cfg(), [], {})[1] == [NO_CINDER]


def test_floating_ips_on_leaked_ports_follow_the_ports():
    cloud = FakeCloud()
    cloud.ports = [Port("p1", "", "gone-server", "compute:nova", tags=[TAG])]
    cloud.fips = [FloatingIP(id="f1", address="203.0.113.7", port_id="p1")]
    said: list[str] = []
    leaks, _ = find_leaks(cloud, cfg(), [], {}, said.append)
    assert [(leak.kind, leak.id) for leak in leaks] == [("floating_ip", "f1"), ("port", "p1")]
    assert said[:4] == ["listing the project's servers", "listing Neutron ports", "listing floating IPs",
                        "listing keypairs"]


def pool_cloud() -> FakeCloud:
    cloud = FakeCloud(networks={POOL: "public"})
    return cloud


def test_a_floating_ip_is_created_for_an_active_member_with_a_port_and_released_with_it():
    cloud = pool_cloud()
    server = member("s1")
    cloud.add(server)
    fips = FloatingIPs(cloud, "public", TAG)
    assert fips.resolve() == POOL
    fips.ensure(server)  # no port yet: nothing, tried again at the next Update
    assert cloud.fip_docs == []
    cloud.ports = [Port("p1", "", "s1", "compute:nova")]
    fips.ensure(server)
    fips.ensure(server)  # once
    assert [(d["port_id"], d["description"]) for d in cloud.fip_docs] == [("p1", description(TAG, "s1"))]
    assert fips.address("s1") == cloud.fip_docs[0]["floating_ip_address"]
    fips.release("s1")
    assert cloud.fip_docs == [] and fips.address("s1") == ""


class LostAnswer(FakeCloud):
    """Neutron makes the floating IP but the answer is lost."""

    def create_floating_ip(self, network_id, port_id, description):
        super().create_floating_ip(network_id, port_id, description)
        raise CloudError("connection reset", None)


def test_a_failed_create_is_cleaned_up_by_looking_before_creating_another():
    cloud = LostAnswer(networks={POOL: "public"})
    server = member("s1")
    cloud.add(server)
    cloud.ports = [Port("p1", "", "s1", "compute:nova")]
    fips = FloatingIPs(cloud, POOL, TAG)
    fips.resolve()
    with pytest.raises(CloudError):
        fips.ensure(server)
    fips.ensure(server)  # failed_create: the group's floating IPs are reloaded and the one made is found
    assert len(cloud.fip_docs) == 1 and fips.address("s1") == cloud.fip_docs[0]["floating_ip_address"]


def test_a_sync_releases_the_floating_ips_of_servers_that_left():
    cloud = pool_cloud()
    fips = FloatingIPs(cloud, POOL, TAG)
    fips.resolve()
    cloud.fip_docs = [{"id": "a", "floating_network_id": POOL, "description": description(TAG, "s1")},
                      {"id": "b", "floating_network_id": POOL, "description": description(TAG, "gone")},
                      {"id": "c", "floating_network_id": POOL, "description": "someone else's"}]
    fips.sync(["s1"])
    assert [d["id"] for d in cloud.fip_docs] == ["a", "c"] and ("floating_ip", "b") in cloud.removed
