"""provider/observer.py: the read-only twin of Update that ``status`` and ``reap`` use (on FakeCloud)."""

from __future__ import annotations

import json

import pytest
from support.fakecloud import FakeCloud, init_checks, make_server, plugin_config

from fleeting_openstack.contract.instancegroup import Settings, State
from fleeting_openstack.openstack.client import Port
from fleeting_openstack.provider.observer import GroupObserver

MEMBER = {"fleeting-cluster": "g"}  # found by metadata: an observer adopts (tags) nothing


def observer(tmp_path, cloud: FakeCloud, **settings: object) -> GroupObserver:
    obs = GroupObserver(checks=init_checks(cloud))
    obs.open(json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode(), Settings())
    return obs


def test_observer_reports_but_never_deletes(tmp_path):
    cloud = FakeCloud()
    obs = observer(tmp_path, cloud, build_timeout="60s", boot_time="600s",
                   readiness={"on_boot_timeout": "delete"})
    cloud.add(*[make_server(sid, status, age=age, name=f"g-{sid}", metadata=MEMBER,
                            fault="boom" if status == "ERROR" else "")
                for sid, status, age in [("err", "ERROR", 10), ("off", "SHUTOFF", 10), ("old", "BUILD", 61),
                                         ("new", "BUILD", 10), ("boot", "ACTIVE", 10), ("late", "ACTIVE", 601)]])
    cloud.add(make_server("stranger", "ERROR"))  # not a member
    for _ in range(2):  # twice: nothing is remembered as "already deleting"
        found = {s.id: st for s, st in obs.evaluate()}
        assert found == {"err": State.DELETING, "off": State.DELETING, "old": State.DELETING,
                         "new": State.CREATING, "boot": State.CREATING, "late": State.DELETING}
    assert cloud.deleted == [] and cloud.tagged == []
    assert set(obs.would_reap) == {"err", "off", "old", "late"}
    assert {s.id for s, v in obs.verdicts() if v.reap} == {"err", "off", "old", "late"}
    assert obs.reasons["off"] == "status SHUTOFF"
    assert obs.reasons["old"].startswith("stuck in BUILD")
    assert obs.reasons["new"].startswith("building")
    assert obs.reasons["boot"].startswith("waiting for the boot marker: ")
    assert obs.reasons["late"].startswith("no boot marker within boot_time")
    assert not hasattr(obs, "update")  # it has nothing that acts on the verdicts


def test_observer_keeps_inits_problems_instead_of_raising(tmp_path):
    cloud = FakeCloud()
    obs = observer(tmp_path, cloud, flavor_fallbacks=["no-such-flavor"])
    assert obs.problems == ["flavor_fallbacks[0]: flavor 'no-such-flavor' not found"]
    assert obs.members() == []


def test_observer_reads_a_servers_record_addresses_and_image(tmp_path):
    cloud = FakeCloud()
    obs = observer(tmp_path, cloud)
    listed = make_server("e", "ERROR", name="g-e", metadata=MEMBER)
    cloud.add(listed, record_fault="No valid host")
    assert obs.record(listed).fault == "No valid host"
    assert obs.record(make_server("gone")).id == "gone"  # cannot be read: the listing's answer stands
    assert obs.addresses(listed) == ("10.1.0.5", "")
    assert obs.image(listed) is None  # booted from no known image


def test_observer_finds_and_deletes_leaks(tmp_path):
    cloud = FakeCloud()
    obs = observer(tmp_path, cloud)
    cloud.add(make_server("err", "ERROR", name="g-err", metadata=MEMBER, fault="boom"))
    cloud.ports = [Port(id="p1", name="", device_id="", device_owner="", tags=["fleeting:g"], description="")]
    said: list[str] = []
    leaks, notes = obs.leaks(said.append)
    assert [(leak.kind, leak.id) for leak in leaks] == [("server", "err"), ("port", "p1")]
    assert notes == [] and "listing Neutron ports" in said
    for leak in leaks:
        obs.delete(leak)
    assert cloud.deleted == ["err"] and cloud.removed == [("port", "p1")]
    assert cloud.tagged == []


def test_the_log_level_is_handed_to_what_the_cli_passes(tmp_path):
    levels: list[str] = []
    obs = GroupObserver(checks=init_checks(FakeCloud()), set_log_level=levels.append)
    obs.open(json.dumps(plugin_config(state_dir=str(tmp_path), log_level="warn")).encode(), Settings())
    assert levels == ["warn"]


def test_a_closed_observer_closes_its_cloud_and_an_unopened_one_refuses(tmp_path):
    cloud = FakeCloud()
    obs = observer(tmp_path, cloud)
    obs.close()
    assert cloud.closed
    with pytest.raises(RuntimeError, match="not open"):
        GroupObserver(checks=init_checks(FakeCloud())).verdicts()


def test_status_shows_a_suspended_server_and_since_when_and_would_not_reap_it(tmp_path):
    from fleeting_openstack.config.identity import META_SUSPEND

    cloud = FakeCloud()
    obs = observer(tmp_path, cloud)
    mark = {**MEMBER, META_SUSPEND: "suspended 1796553420 os-stop"}
    cloud.add(make_server("parked", "SHUTOFF", name="g-parked", metadata=mark),
              make_server("broken", "SHUTOFF", name="g-broken", metadata=MEMBER))
    found = {s.id: st for s, st in obs.evaluate()}
    assert found == {"parked": State.SUSPENDED, "broken": State.DELETING}
    assert obs.reasons["parked"] == "suspended (SHUTOFF, os-stop) since 2026-12-06T10:37:00Z"
    assert set(obs.would_reap) == {"broken"}
