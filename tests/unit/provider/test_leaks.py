"""provider/leaks.py: what ``reap`` finds and deletes, and the provider's stray floating IPs (on FakeCloud)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import group_tag, name_pattern
from fleeting_openstack.openstack.client import FloatingIP, Keypair, Port
from fleeting_openstack.openstack.models import volume_from_doc
from fleeting_openstack.provider import leaks

sys.path.insert(0, str(Path(__file__).parents[2] / "support"))
from fakecloud import FakeCloud, make_server  # noqa: E402

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
KEPT_PORT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def config(**spec: object):
    server_spec = {"name": "grp-%d", "imageRef": IMAGE, "flavorRef": "f1", "networks": "none"}
    server_spec.update(spec)
    return load_plugin_config({"name": "grp", "server_spec": server_spec}, env={}).config


def deleted_server(cloud: FakeCloud, sid: str, name: str, age: float) -> None:
    """A server of the group Nova deleted (listed only with changes-since)."""
    cloud.gone[sid] = make_server(sid, "DELETED", age=age, name=name, addresses=[])


def test_name_pattern_matches_the_plugins_names():
    """The names leaks recognise deleted group servers and keypairs by."""
    pattern = name_pattern("ci-%d.workers")
    assert pattern.fullmatch("ci-12.workers") and not pattern.fullmatch("ci-x.workers")
    assert name_pattern("ci").fullmatch("ci-3") and not name_pattern("ci").fullmatch("ci")


def test_volume_rules():
    """Cinder is not part of the devcloud: the volume rules against the fake cloud."""
    cfg = config(block_device_mapping_v2=[{"boot_index": 0, "uuid": IMAGE, "source_type": "image",
                                           "destination_type": "volume", "volume_size": 10}])
    now = time.time()
    cloud = FakeCloud()
    deleted_server(cloud, "dead-1", f"{cfg.name}-4", age=3600)

    def vol(id_, name="", status="available", size=10, created=now - 3590, metadata=None, attachments=()):
        """As Cinder lists it (created_at without a zone: UTC), read by the adapter."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(created))
        return volume_from_doc(dict(
            id=id_, name=name, status=status, size=size, created_at=stamp, metadata=metadata or {},
            attachments=list(attachments), description=""))

    cloud.volume_list = [vol("boot"), vol("other-size", size=20), vol("later", created=now - 10),
                         vol("in-use", status="in-use", attachments=[{"server_id": "x"}]),
                         vol("blank", name="dead-1-blank-vol", created=now),
                         vol("marked", name="data", metadata={"fleeting-cluster": cfg.name}, created=now)]
    found, notes = leaks.find_leaks(cloud, cfg, [], {})
    assert {leak.id for leak in found} == {"boot", "blank", "marked"}
    assert notes == []

    cloud.cinder = False
    found, notes = leaks.find_leaks(cloud, cfg, [], {})
    assert found == [] and "volumes not checked" in notes[0]


def test_ports_floating_ips_keypairs_and_servers():
    cfg = config(networks=[{"port": KEPT_PORT}], key_name="operator-key")
    tag = group_tag(cfg.name)
    cloud = FakeCloud()
    live = make_server("live-1", name="grp-1")
    cloud.add(live, make_server("other", name="not-ours-1"))
    deleted_server(cloud, "dead-2", "grp-2", age=600)
    cloud.ports = [
        Port(KEPT_PORT, "", "", "", tags=(tag,)),  # named in server_spec.networks: never
        Port("tagged-free", "p1", "", "", tags=(tag,)),
        Port("described-gone", "p2", "vanished", "compute:nova", description=f"made for {tag}"),
        Port("in-use", "p3", "live-1", "compute:nova", tags=(tag,)),
        Port("router", "p4", "r1", "network:router_interface", tags=(tag,)),
        Port("bound-to-dead", "p5", "dead-2", "compute:nova"),
        Port("unmarked-free", "p6", "", ""),
    ]
    cloud.fips = [FloatingIP("fip-on-leak", "203.0.113.1", "tagged-free"),
                  FloatingIP("fip-marked-free", "203.0.113.2", "", tags=(tag,)),
                  FloatingIP("fip-marked-used", "203.0.113.3", "in-use", tags=(tag,)),
                  FloatingIP("fip-other", "203.0.113.4", "")]
    cloud.keypair_list = [Keypair("operator-key"), Keypair("fleeting-grp"), Keypair("fleeting-grp-old"),
                          Keypair(tag), Keypair("grp-2"), Keypair("grp-1"), Keypair("someone")]
    found, notes = leaks.find_leaks(cloud, cfg, [live], {"live-1": "status ERROR"})
    by_id = {leak.id: leak for leak in found}
    assert set(by_id) == {"live-1", "tagged-free", "described-gone", "bound-to-dead", "fip-on-leak",
                          "fip-marked-free", "fleeting-grp", "fleeting-grp-old", tag, "grp-2"}
    assert [leak.kind for leak in found] == sorted((leak.kind for leak in found), key=leaks.KINDS.index)
    assert by_id["live-1"].reason == "status ERROR"
    assert by_id["tagged-free"].reason == f"carries the group tag {tag}; attached to nothing"
    assert by_id["described-gone"].reason == f"its description contains {tag}; device vanished is gone"
    assert by_id["bound-to-dead"].reason == "still bound to deleted group server grp-2 (dead-2)"
    assert by_id["fip-on-leak"].reason == "associated with leaked port tagged-free"
    assert by_id["fip-marked-free"].reason == f"carries the group tag {tag}; not associated"
    assert by_id["grp-2"].reason == "named like a group server that no longer exists"
    assert notes == []

    for leak in found:
        leaks.delete_leak(cloud, leak)
    assert cloud.deleted == ["live-1"]
    assert sorted(cloud.removed) == sorted((leak.kind, leak.id) for leak in found if leak.kind != "server")
    leaks.delete_leak(cloud, leaks.Leak("server", "long-gone", "", ""))  # gone already: deleted


def test_stray_floating_ips_are_those_of_servers_that_left():
    tag = group_tag("grp")
    fips = [{"id": "a", "description": leaks.floating_ip_description(tag, "s1")},
            {"id": "b", "description": leaks.floating_ip_description(tag, "s1")},  # a second one: stray
            {"id": "c", "description": leaks.floating_ip_description(tag, "gone")},
            {"id": "d", "description": leaks.floating_ip_description(group_tag("other"), "gone")},
            {"id": "e", "description": None}]
    kept, strays = leaks.stray_floating_ips(fips, tag, ["s1", "s2"])
    assert {server: fip["id"] for server, fip in kept.items()} == {"s1": "a"}
    assert [fip["id"] for fip in strays] == ["b", "c"]
    assert leaks.floating_ip_server(fips[2]["description"], tag) == "gone"
    assert leaks.floating_ip_server("fleeting:grpx server=s1", tag) is None
