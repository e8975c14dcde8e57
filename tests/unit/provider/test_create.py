"""provider/create.py: one server's name, request, fallbacks and tagging, driven through Increase (on FakeCloud)."""

from __future__ import annotations

import json

import pytest
from support.fakecloud import FLAVOR, FakeCloud, init_checks, member, plugin_config

from fleeting_openstack.contract.instancegroup import PartialError, Settings
from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.create import IndexCounter
from fleeting_openstack.provider.group import OpenStackProvider


def start(tmp_path, cloud: FakeCloud, **settings: object) -> OpenStackProvider:
    provider = OpenStackProvider(checks=init_checks(cloud))
    provider.init(json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode(), Settings())
    return provider


def test_the_index_never_repeats_across_counters_and_starts_past_the_groups_servers(tmp_path):
    known = [member("a", metadata={"fleeting-index": "41"}), member("b", metadata={"fleeting-index": "x"})]
    one = IndexCounter(str(tmp_path), "g", lambda: known)
    two = IndexCounter(str(tmp_path), "g", lambda: [])  # another process on the same state dir
    assert [one.next(), two.next(), one.next()] == [42, 43, 44]
    assert IndexCounter(str(tmp_path), "other/group", lambda: []).next() == 1  # per group


def test_a_capacity_refusal_moves_to_the_next_flavor_in_the_same_create(tmp_path):
    cloud = FakeCloud(flavors={"small": "33333333-0000-4000-8000-000000000001"})
    p = start(tmp_path, cloud, flavor_fallbacks=["small"])
    cloud.fail_next_create(CloudError("Quota exceeded for cores", 403))
    assert p.increase(1) == 1
    assert [c["server"]["flavorRef"] for c in cloud.created] == [FLAVOR, "33333333-0000-4000-8000-000000000001"]


def test_a_refusal_with_no_choice_left_fails_the_create(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.fail_next_create(CloudError("No valid host was found", 409))
    with pytest.raises(PartialError, match="No valid host"):
        p.increase(1)
    assert cloud.servers == {}


def test_a_name_without_an_index_gets_one(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, server_spec={"name": "worker", "imageRef": "11111111-1111-4111-8111-111111111111",
                                            "flavorRef": FLAVOR, "networks": "none"})
    p.increase(2)
    assert sorted(s.name for s in cloud.servers.values()) == ["worker-1", "worker-2"]


class UntaggableCloud(FakeCloud):
    def add_tag(self, server_id: str, tag: str) -> None:
        raise CloudError("tags unavailable", 503)


def test_between_2_26_and_2_52_a_server_that_cannot_be_tagged_is_deleted(tmp_path):
    cloud = UntaggableCloud()
    p = start(tmp_path, cloud, nova_microversion="2.40")
    with pytest.raises(PartialError, match="tags unavailable"):
        p.increase(1)
    assert "tags" not in cloud.created[0]["server"]  # the tag is added after the create
    assert cloud.deleted == list(cloud.servers)  # and the untagged server deleted so it cannot leak


def test_from_2_52_the_group_tag_is_in_the_create_request(tmp_path):
    cloud = FakeCloud()
    start(tmp_path, cloud).increase(1)
    assert cloud.created[0]["server"]["tags"] == ["fleeting:g"] and cloud.tagged == []


class NoLookups(FakeCloud):
    """The lookup of one server by its exact name fails (the group view's listings answer)."""

    def list_servers(self, filters, page_size=1000):
        if filters.get("name", "").endswith("$"):
            raise CloudError("listing failed", 503)
        return super().list_servers(filters, page_size)


def test_an_unknown_outcome_that_cannot_be_checked_says_so(tmp_path):
    cloud = NoLookups()
    p = start(tmp_path, cloud)
    cloud.fail_next_create(CloudError("connection reset", None), made=False)
    with pytest.raises(PartialError, match="could not check whether the server was made"):
        p.increase(1)
