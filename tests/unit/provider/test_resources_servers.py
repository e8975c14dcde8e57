"""provider/resources/servers.py: servers as a resource kind — a leak is a server the plugin would delete
(``server_leaks``); the handler's (``Servers``) delete counts a server already gone as deleted. On FakeCloud."""

from __future__ import annotations

import pytest
from support.fakecloud import FakeCloud, member

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.resources.kind import LeakScan
from fleeting_openstack.provider.resources.servers import Servers, server_leaks

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"


def cfg():
    return load_plugin_config({"name": "g", "server_spec": {"name": "g-%d", "imageRef": IMAGE, "flavorRef": "f",
                                                             "networks": "none"}}, env={}).config


def test_a_leak_is_a_group_server_the_plugin_would_delete_with_its_reason():
    servers = [member("s1"), member("s2", "ERROR"), member("s3")]
    found = server_leaks(servers, {"s2": "status ERROR", "elsewhere": "not in the group"})
    assert [(leak.kind, leak.id, leak.name, leak.reason) for leak in found] == [("server", "s2", "g-s2", "status ERROR")]
    assert server_leaks(servers, {}) == []


def test_the_handler_takes_the_group_servers_the_provider_evaluated_and_lists_nothing():
    cloud = FakeCloud()
    cloud.add(member("s1"), member("s2"))
    said: list[str] = []
    scan = LeakScan(cloud, cfg(), [member("s1"), member("s2")], {"s1": "keys lost"}, said.append)
    assert Servers.kind == "server"
    assert [(leak.id, leak.reason) for leak in Servers().leaks(scan)] == [("s1", "keys lost")]
    assert cloud.list_calls == [] and said == []


def test_the_handler_deletes_through_nova_and_a_server_already_gone_counts_as_deleted():
    cloud = FakeCloud()
    cloud.add(member("s1"))
    Servers().delete(cloud, "s1")
    assert cloud.deleted == ["s1"] and cloud.get_server("s1").task_state == "deleting"
    Servers().delete(cloud, "never-was")  # NotFound: nothing to do
    assert cloud.deleted == ["s1"]


def test_a_failed_delete_is_raised_for_reap_to_report():
    cloud = FakeCloud()
    cloud.add(member("s1"))
    cloud.delete_fails["s1"] = CloudError("conflict", 409)
    with pytest.raises(CloudError, match="conflict"):
        Servers().delete(cloud, "s1")
    assert cloud.deleted == []
