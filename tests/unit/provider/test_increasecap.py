"""provider/increasecap.py: Increase's cap by max_size and by the quota pre-check, on FakeCloud's limits."""

from __future__ import annotations

import json

import pytest
from support.fakecloud import FLAVOR, FakeCloud, init_checks, member, plugin_config

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.contract.instancegroup import PartialError, Settings
from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.createpause import CreateBreaker
from fleeting_openstack.provider.fallbacks import Choices
from fleeting_openstack.provider.group import OpenStackProvider
from fleeting_openstack.provider.increasecap import cap_increase, quota_headroom


def start(tmp_path, cloud: FakeCloud, **settings: object) -> OpenStackProvider:
    provider = OpenStackProvider(checks=init_checks(cloud))
    provider.init(json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode(), Settings())
    return provider


def test_an_increase_is_capped_by_the_clouds_instance_quota(tmp_path):
    cloud = FakeCloud()
    cloud.limits = {"maxTotalInstances": 3, "totalInstancesUsed": 1}
    p = start(tmp_path, cloud)
    with pytest.raises(PartialError) as caught:
        p.increase(5)
    assert caught.value.done == 2 and len(cloud.created) == 2  # no create was sent for the rest
    assert "quota exceeded (checked before creating): Nova quota instances: 1 of 3 used, 1 per server" in str(
        caught.value)


def test_an_increase_is_capped_by_cores_of_the_flavor(tmp_path):
    cloud = FakeCloud()
    cloud.limits = {"maxTotalCores": 10, "totalCoresUsed": 4}
    cloud.flavor_sizes = {FLAVOR: {"vcpus": 4, "ram": 4096}}
    p = start(tmp_path, cloud)
    with pytest.raises(PartialError, match="Nova quota cores: 4 of 10 used, 4 per server") as caught:
        p.increase(3)
    assert caught.value.done == 1


def test_an_increase_is_capped_by_neutron_ports_when_the_servers_get_ports(tmp_path):
    cloud = FakeCloud()
    cloud.network_quotas = {"port": {"limit": 10, "used": 9, "reserved": 0}}
    p = start(tmp_path, cloud)  # plugin_config's one network without a port: one port per server
    with pytest.raises(PartialError, match="Neutron quota ports: 9 of 10 used, 1 per server"):
        p.increase(2)
    assert len(cloud.created) == 1


def test_a_failing_limits_call_skips_the_advisory_pre_check(tmp_path):
    cloud = FakeCloud()
    cloud.limits = {"maxTotalInstances": 0, "totalInstancesUsed": 0}
    cloud.limits_error = CloudError("limits unavailable", 503)
    p = start(tmp_path, cloud)
    assert p.increase(2) == 2  # Nova's answer to each create decides


def test_quota_headroom_takes_the_tightest_limit():
    cloud = FakeCloud()
    cloud.limits = {"maxTotalInstances": 50, "totalInstancesUsed": 10, "maxTotalCores": 20,
                    "totalCoresUsed": 12, "maxTotalRAMSize": -1, "totalRAMUsed": 0}
    cloud.flavor_sizes = {"f": {"vcpus": 2, "ram": 512}}
    cloud.network_quotas = {"port": {"limit": 100, "used": 97, "reserved": 0},
                            "floatingip": {"limit": 10, "used": 9, "reserved": 0}}
    assert quota_headroom(cloud, "f", ports_per_server=0, floating_ips=False) == (
        4, "Nova quota cores: 12 of 20 used, 2 per server")
    assert quota_headroom(cloud, "f", ports_per_server=1, floating_ips=False)[0] == 3
    assert quota_headroom(cloud, "f", ports_per_server=1, floating_ips=True) == (
        1, "Neutron quota floating IPs: 9 of 10 used, 1 per server")


class NoLimits:
    """A cloud object that lacks the calls: a bug, which the pre-check no longer hides."""


def test_a_missing_call_is_a_bug_not_a_skipped_pre_check():
    with pytest.raises(AttributeError):
        quota_headroom(NoLimits(), "f", ports_per_server=0, floating_ips=False)  # type: ignore[arg-type]


def test_max_size_and_the_most_any_flavor_choice_allows(tmp_path):
    cfg = load_plugin_config(plugin_config(state_dir=str(tmp_path), max_size=4), env={}).config
    cloud = FakeCloud()
    cloud.limits = {"maxTotalCores": 8, "totalCoresUsed": 0}
    cloud.flavor_sizes = {"big": {"vcpus": 8}, "small": {"vcpus": 2}}

    def cap(delta: int, members: list[str], deleting: tuple[str, ...] = ()) -> tuple[int, str]:
        return cap_increase(delta, cfg=cfg, cloud=cloud, blocker="", breaker=CreateBreaker(60),
                            choices=Choices(["big", "small"], [None], 600), members=members,
                            deleting=deleting, floating_ips=False)

    # the fallback flavor "small" fits 4 where "big" fits 1: the most any choice allows
    assert cap(3, []) == (3, "")
    assert cap(6, [])[0] == 4 and cap(6, [])[1].startswith("max_size 4 reached")
    assert cap(3, ["a", "b", "c"]) == (1, "max_size 4 reached (3 servers in the group)")
    assert cap(3, ["a", "b", "c"], deleting=("a", "b")) == (3, "")  # servers being deleted do not count
    cloud.limits["totalCoresUsed"] = 6  # "small" fits 1 more, "big" none
    assert cap(3, []) == (1, "quota exceeded (checked before creating): Nova quota cores: 6 of 8 used, 2 per server")


def test_creates_disabled_or_paused_allow_none(tmp_path):
    cfg = load_plugin_config(plugin_config(state_dir=str(tmp_path)), env={}).config
    cloud = FakeCloud()
    breaker = CreateBreaker(60)
    for _ in range(3):
        breaker.failed("No valid host")
    common = dict(cfg=cfg, cloud=cloud, choices=Choices(["f"], [None], 600), members=[], deleting=(),
                  floating_ips=False)
    assert cap_increase(2, blocker="image gone", breaker=CreateBreaker(60), **common) == (0, "image gone")
    n, why = cap_increase(2, blocker="", breaker=breaker, **common)
    assert n == 0 and why.startswith("creates paused")


def test_members_count_toward_the_instance_quota_only_through_novas_numbers(tmp_path):
    """The group's own servers are in Nova's totalInstancesUsed: they are not subtracted twice."""
    cloud = FakeCloud()
    cloud.add(member("a"), member("b"))
    cloud.limits = {"maxTotalInstances": 4, "totalInstancesUsed": 2}
    p = start(tmp_path, cloud)
    assert p.increase(2) == 2
