"""provider/resources/keypairs.py: Nova keypairs as a resource kind — the leak rule (``keypair_leaks``) and
the handler (``Keypairs``: its leaks through a LeakScan, its delete), on FakeCloud."""

from __future__ import annotations

from support.fakecloud import FakeCloud, make_server

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import group_tag
from fleeting_openstack.openstack.client import Keypair
from fleeting_openstack.provider.resources.keypairs import Keypairs, keypair_leaks
from fleeting_openstack.provider.resources.kind import LeakScan

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
TAG = group_tag("g")


def cfg(**spec: object):
    server_spec = {"name": "g-%d.workers", "imageRef": IMAGE, "flavorRef": "f", "networks": "none", **spec}
    return load_plugin_config({"name": "g", "server_spec": server_spec}, env={}).config


def names(leaks):
    return [leak.id for leak in leaks]


def test_keypairs_named_for_the_group_are_leaks():
    found = keypair_leaks([Keypair("fleeting-g"), Keypair("fleeting-g-2024"), Keypair(TAG), Keypair("fleeting-gx")],
                          set(), cfg(), TAG)
    assert [(leak.kind, leak.id, leak.name, leak.reason) for leak in found] == [
        ("keypair", "fleeting-g", "fleeting-g", "named for the group"),
        ("keypair", "fleeting-g-2024", "fleeting-g-2024", "named for the group"),
        ("keypair", TAG, TAG, "named for the group"),
    ]


def test_a_keypair_named_like_a_group_server_is_a_leak_only_when_that_server_is_gone():
    keypairs = [Keypair("g-1.workers"), Keypair("g-2.workers"), Keypair("g-x.workers"), Keypair("g-3")]
    found = keypair_leaks(keypairs, {"g-1.workers"}, cfg(), TAG)
    assert [(leak.id, leak.reason) for leak in found] == [
        ("g-2.workers", "named like a group server that no longer exists")]


def test_the_operators_keypair_is_never_a_leak_whatever_its_name():
    keypairs = [Keypair("fleeting-g"), Keypair("g-9.workers"), Keypair("operator")]
    assert names(keypair_leaks(keypairs, set(), cfg(key_name="fleeting-g"), TAG)) == ["g-9.workers"]
    assert names(keypair_leaks(keypairs, set(), cfg(key_name="g-9.workers"), TAG)) == ["fleeting-g"]


def test_the_handler_lists_the_servers_then_the_keypairs():
    cloud = FakeCloud()
    cloud.add(make_server("s1", name="g-1.workers"))
    cloud.keypair_list = [Keypair("g-1.workers"), Keypair("g-2.workers"), Keypair("someone")]
    said: list[str] = []
    scan = LeakScan(cloud, cfg(), [], {}, said.append)
    assert Keypairs.kind == "keypair"
    assert names(Keypairs().leaks(scan)) == ["g-2.workers"]
    assert said == ["listing the project's servers", "listing keypairs"]
    Keypairs().leaks(scan)
    assert len(cloud.list_calls) == 1  # the project's servers are listed once per scan


def test_the_handler_deletes_a_keypair_by_name():
    cloud = FakeCloud()
    cloud.keypair_list = [Keypair("fleeting-g"), Keypair("operator")]
    Keypairs().delete(cloud, "fleeting-g")
    assert cloud.removed == [("keypair", "fleeting-g")] and cloud.keypairs() == [Keypair("operator")]
