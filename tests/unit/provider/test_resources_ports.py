"""provider/resources/ports.py: Neutron ports as a resource kind — the leak rule (``port_leaks``) and the
handler (``Ports``: its leaks through a LeakScan, its delete), on FakeCloud."""

from __future__ import annotations

from support.fakecloud import FakeCloud, make_server

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import group_tag
from fleeting_openstack.openstack.client import Port
from fleeting_openstack.provider.resources.kind import Leak, LeakScan
from fleeting_openstack.provider.resources.ports import Ports, port_leaks

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
KEPT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
TAG = group_tag("g")


def cfg(networks: object = "none"):
    return load_plugin_config({"name": "g", "server_spec": {"name": "g-%d", "imageRef": IMAGE, "flavorRef": "f",
                                                             "networks": networks}}, env={}).config


def no_deleted():
    raise AssertionError("the deleted servers were listed although no port needed them")


def test_a_marked_port_no_server_uses_is_a_leak_saying_how_it_is_marked_and_why_it_is_unused():
    ports = [Port("free", "p1", "", "", tags=(TAG,)),
             Port("orphan", "p2", "vanished", "compute:nova", description=f"made for {TAG}")]
    found = port_leaks(ports, set(), cfg(), TAG, no_deleted)
    assert [(leak.kind, leak.id, leak.name, leak.reason) for leak in found] == [
        ("port", "free", "p1", f"carries the group tag {TAG}; attached to nothing"),
        ("port", "orphan", "p2", f"its description contains {TAG}; device vanished is gone"),
    ]
    assert all(leak.action == "would delete" and leak.error is None for leak in found)


def test_a_port_in_use_owned_by_the_network_named_in_server_spec_or_unmarked_is_never_a_leak():
    ports = [Port("in-use", "", "live-1", "compute:nova", tags=(TAG,)),
             Port("router", "", "r1", "network:router_interface", tags=(TAG,)),
             Port("dhcp", "", "d1", "network:dhcp", description=TAG),
             Port(KEPT, "", "", "", tags=(TAG,)),
             Port("unmarked", "", "", ""),
             Port("other-group", "", "", "", tags=(group_tag("other"),))]
    assert port_leaks(ports, {"live-1"}, cfg([{"port": KEPT}]), TAG, no_deleted) == []
    # the same port, not named in server_spec.networks: a leak
    assert [leak.id for leak in port_leaks(ports, {"live-1"}, cfg(), TAG, no_deleted)] == [KEPT]


def test_an_unmarked_port_still_bound_to_a_deleted_group_server_is_a_leak():
    dead = make_server("dead-1", "DELETED", name="g-7", addresses=[])
    ports = [Port("bound", "p", "dead-1", "compute:nova"), Port("elsewhere", "q", "someone", "compute:nova")]
    found = port_leaks(ports, set(), cfg(), TAG, lambda: {"dead-1": dead})
    assert [(leak.id, leak.reason) for leak in found] == [("bound", "still bound to deleted group server g-7 (dead-1)")]


def scan(cloud: FakeCloud, said: list[str]) -> LeakScan:
    return LeakScan(cloud, cfg(), [], {}, said.append)


def test_the_handler_lists_the_servers_and_ports_and_asks_for_deleted_servers_only_when_a_port_needs_them():
    cloud = FakeCloud()
    cloud.add(make_server("live-1", name="g-1"))
    cloud.ports = [Port("in-use", "", "live-1", "compute:nova", tags=(TAG,)), Port("free", "", "", "", tags=(TAG,))]
    said: list[str] = []
    assert Ports.kind == "port"
    assert [leak.id for leak in Ports().leaks(scan(cloud, said))] == ["free"]
    assert said == ["listing the project's servers", "listing Neutron ports"]
    assert [c for c in cloud.list_calls if "changes-since" in c] == []  # nothing needed the deleted servers

    cloud.gone["dead-1"] = make_server("dead-1", "DELETED", name="g-2", addresses=[])
    cloud.ports.append(Port("bound", "", "dead-1", "compute:nova"))
    said.clear()
    assert [leak.id for leak in Ports().leaks(scan(cloud, said))] == ["free", "bound"]
    assert said[-1] == "listing deleted servers of the group"
    assert [c["name"] for c in cloud.list_calls if "changes-since" in c] == ["^g\\-"]


def test_the_handler_deletes_a_port_and_a_leak_names_it():
    cloud = FakeCloud()
    cloud.ports = [Port("p1", "", "", ""), Port("p2", "", "", "")]
    Ports().delete(cloud, "p1")
    assert cloud.removed == [("port", "p1")] and [p.id for p in cloud.project_ports()] == ["p2"]
    assert Leak("port", "p1", "n", "why").to_dict() == {"kind": "port", "id": "p1", "name": "n", "reason": "why",
                                                       "action": "would delete", "error": None}
