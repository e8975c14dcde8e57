"""Every Nova status is mapped on purpose: the pure decision (``states.assess``) and the
provider's public commands acting on it, against the shared in-memory cloud (the
devcloud cannot put servers into most of these states on demand)."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from support.fakecloud import FakeCloud, init_checks, make_server, member, plugin_config

from fleeting_openstack.contract.instancegroup import PartialError, Settings, State
from fleeting_openstack.openstack.client import CloudError, Server
from fleeting_openstack.plugin.types import ReadinessState
from fleeting_openstack.provider.group import OpenStackProvider
from fleeting_openstack.provider.states import (
    KEYS_LOST,
    REDELETE_AFTER,
    TRANSITIONAL,
    UNUSABLE,
    Cause,
    Look,
    Memory,
    Policy,
    assess,
)

FINISHED = ("Cloud-init v. 23.4.4-0ubuntu0~22.04.1 finished at Wed, 10 Jan 2024 10:00:00 +0000. "
            "Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds\n")
FAILED_BOOT = ("Cloud-init v. 22.4.2 running 'modules:final'\n"
               "2024-01-10 10:00:00,000 - util.py[WARNING]: Failed running /var/lib/cloud/scripts/per-instance/x\n"
               "Cloud-init v. 22.4.2 finished at Wed, 10 Jan 2024 10:00:00 +0000. Datasource DataSourceNone.  "
               "Up 9.0 seconds\n")


def start(tmp_path, cloud: FakeCloud, *, boot_time: str | None = None,
          on_boot_timeout: str = "running") -> OpenStackProvider:
    """A provider after Init with a real plugin_config, on ``cloud``."""
    settings: dict = {"build_timeout": "60s", "readiness": {"on_boot_timeout": on_boot_timeout}}
    if boot_time is not None:
        settings["boot_time"] = boot_time
    provider = OpenStackProvider(checks=init_checks(cloud))
    provider.init(json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode(), Settings())
    return provider


def states(provider: OpenStackProvider) -> dict[str, State]:
    return dict(provider.update())


# -- the decision ----------------------------------------------------------------------
POLICY = Policy(build_timeout=60.0)


@pytest.mark.parametrize("status", sorted(UNUSABLE))
def test_assess_unusable_statuses_reap(status):
    now = time.time()
    verdict = assess(make_server("a", status), now, Memory(), POLICY)
    assert (verdict.state, verdict.reap, verdict.reason) == (State.DELETING, True, f"status {status}")
    # Deleted by the plugin a moment ago: deleting, not deleted again within a minute ...
    verdict = assess(make_server("a", status), now, Memory(deletes={"a": now - 1}), POLICY)
    assert (verdict.state, verdict.reap) == (State.DELETING, False)
    # ... but again when the delete did not complete.
    verdict = assess(make_server("a", status), now, Memory(deletes={"a": now - REDELETE_AFTER - 1}), POLICY)
    assert (verdict.state, verdict.reap) == (State.DELETING, True)


def test_assess_build_and_transitional():
    now = time.time()
    assert assess(make_server("young", "BUILD", age=30), now, Memory(), POLICY).state is State.CREATING
    old = assess(make_server("old", "BUILD", age=61), now, Memory(), POLICY)
    assert old.state is State.DELETING and old.reap and old.reason.startswith("stuck in BUILD")
    for status in TRANSITIONAL:
        assert assess(make_server("a", status), now, Memory(), POLICY).state is State.CREATING
        assert assess(make_server("a", status), now, Memory(ready={"a": "ok"}), POLICY).state is State.RUNNING


def test_assess_readiness_needs_a_look_and_never_acts():
    now = time.time()
    policy = Policy(build_timeout=60.0, boot_time=600.0)
    memory = Memory()
    first = assess(make_server("a"), now, memory, policy)
    assert (first.state, first.cause, first.reap) == (State.CREATING, Cause.LOOK, False)
    ready = assess(make_server("a"), now, memory, policy, Look(ReadinessState.READY, "finished", probe_ok=True))
    assert (ready.state, ready.cause, ready.reason) == (State.RUNNING, Cause.READY, "finished")
    no_probe = assess(make_server("a"), now, memory, policy, Look(ReadinessState.READY, "finished"))
    assert no_probe.state is State.CREATING and no_probe.reason == "finished; waiting for the none probe"
    assert memory == Memory()  # assess remembers nothing: the orchestrator does
    no_boot_time = assess(make_server("a"), now, memory, POLICY)
    assert (no_boot_time.state, no_boot_time.cause) == (State.RUNNING, Cause.READY)


def test_assess_key_made_by_another_master_secret():
    class Keys:
        def key_check(self, salt: str) -> str:
            return "right"

    metadata = {"fleeting-key-salt": "s" * 22, "fleeting-key-check": "wrong"}
    verdict = assess(make_server("a", metadata=metadata), time.time(), Memory(keys=Keys()), POLICY)
    assert (verdict.state, verdict.reap, verdict.reason, verdict.cause) == \
        (State.DELETING, True, KEYS_LOST, Cause.KEYS_LOST)
    assert not assess(make_server("a", metadata=metadata), time.time(), Memory(keys=None), POLICY).reap


# -- the provider acting on it (Update) --------------------------------------------------
@pytest.mark.parametrize("status", sorted(UNUSABLE))
def test_unusable_statuses_are_deleted_by_the_plugin(tmp_path, status):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    listed = member("a", status)
    cloud.add(listed, record_fault="No valid host was found." if status == "ERROR" else "")
    assert states(p) == {"a": State.DELETING}
    assert cloud.deleted == ["a"]
    # Nova still lists it unchanged: reported as deleting again, but not deleted twice within a minute.
    cloud.add(listed)
    assert states(p) == {"a": State.DELETING}
    assert cloud.deleted == ["a"]


def test_stuck_in_build_is_deleted(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.add(member("young", "BUILD", age=30), member("old", "BUILD", age=61))
    assert states(p) == {"young": State.CREATING, "old": State.DELETING}
    assert cloud.deleted == ["old"]


@pytest.mark.parametrize("status", sorted(TRANSITIONAL))
def test_transitional_statuses_keep_the_server(tmp_path, status):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.add(member("new", status), member("ok", "ACTIVE"))
    assert states(p) == {"new": State.CREATING, "ok": State.RUNNING}
    cloud.set_status("ok", status)
    assert states(p)["ok"] is State.RUNNING
    assert cloud.deleted == []


def test_deleted_and_deleting(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.add(member("a", "DELETED"), member("b", "ACTIVE", task_state="deleting"))
    assert states(p) == {"a": State.DELETED, "b": State.DELETING}
    assert cloud.deleted == []


def test_active_waits_for_the_marker_then_runs(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="600s")
    cloud.add(member("a", "ACTIVE"))
    assert states(p) == {"a": State.CREATING}
    cloud.console = "boot...\n" + FINISHED
    assert states(p) == {"a": State.RUNNING}
    cloud.console = ""  # ready stays ready: the console is not read again
    assert states(p) == {"a": State.RUNNING}


def test_console_failure_never_fails_update(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="600s")
    cloud.console_fails = True
    cloud.add(member("a", "ACTIVE"))
    assert states(p) == {"a": State.CREATING}


@pytest.mark.parametrize("policy,expected", [("running", State.RUNNING), ("delete", State.DELETING)])
def test_boot_time_expiry_policy(tmp_path, policy, expected):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="5s", on_boot_timeout=policy)
    cloud.add(member("a", "ACTIVE", age=6))
    assert states(p) == {"a": expected}
    assert cloud.deleted == (["a"] if policy == "delete" else [])


def test_failed_boot_is_deleted(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="600s")
    cloud.console = FAILED_BOOT
    cloud.add(member("a", "ACTIVE"))
    assert states(p) == {"a": State.DELETING} and cloud.deleted == ["a"]


@dataclasses.dataclass(frozen=True)
class BrokenServer(Server):
    """A server record the plugin cannot evaluate (its age cannot be computed)."""

    def age(self, now: float | None = None) -> float:
        raise RuntimeError("boom")


def test_one_bad_server_does_not_fail_update(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="600s")
    cloud.console = FINISHED
    good = member("good", "ACTIVE")
    cloud.add(BrokenServer(**{**dataclasses.asdict(member("bad", "ACTIVE")), "addresses": good.addresses}),
              good)
    assert states(p) == {"bad": State.CREATING, "good": State.RUNNING}
    assert p.reasons["bad"] == "could not evaluate: boom"


# -- Increase, Decrease, ConnectInfo -------------------------------------------------------
def test_increase_names_tags_and_decrease(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    assert p.increase(2) == 2
    names = sorted(s.name for s in cloud.servers.values())
    assert names == ["g-1", "g-2"]
    assert all("fleeting:g" in s.tags and s.metadata["fleeting-cluster"] == "g" for s in cloud.servers.values())
    ids = sorted(cloud.servers)
    for sid in ids:
        cloud.set_status(sid, "ACTIVE")
    assert states(p) == {sid: State.RUNNING for sid in ids}
    info = p.connect_info(ids[0])
    assert (info.internal_addr, info.connector.username, info.connector.protocol) == ("10.1.0.5", "ubuntu", "ssh")
    assert p.decrease(ids) == ids and sorted(cloud.deleted) == ids
    assert states(p) == {sid: State.DELETING for sid in ids}
    cloud.finish_deletes()
    assert states(p) == {sid: State.DELETED for sid in ids}  # once: the runner drops them at once
    assert states(p) == {}
    # The index never repeats, also for a new provider on the same state dir.
    assert start(tmp_path, cloud).increase(1) == 1
    assert [s.name for s in cloud.servers.values()] == ["g-3"]


def test_create_with_unknown_outcome_keeps_the_server_nova_made(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.fail_next_create(CloudError("502 Bad Gateway", 502), made=True)
    assert p.increase(1) == 1 and len(cloud.servers) == 1
    cloud.fail_next_create(CloudError("502 Bad Gateway", 502), made=False)
    with pytest.raises(PartialError, match="0 of 1 servers requested; 1 not: 502 Bad Gateway"):
        p.increase(1)
    assert len(cloud.servers) == 1 and len(cloud.created) == 2


def test_a_new_init_keeps_what_was_learnt_about_the_servers(tmp_path):
    cloud = FakeCloud()
    p = start(tmp_path, cloud, boot_time="600s")
    cloud.console = FINISHED
    cloud.add(member("a", "ACTIVE"), member("b", "ERROR"))
    assert states(p) == {"a": State.RUNNING, "b": State.DELETING} and cloud.deleted == ["b"]
    cloud.console = ""
    cloud.add(member("b", "ERROR"))  # still listed unchanged
    p.init(json.dumps(plugin_config(state_dir=str(tmp_path), boot_time="600s")).encode(), Settings())
    assert states(p) == {"a": State.RUNNING, "b": State.DELETING}  # ready stays ready; no second delete
    assert cloud.deleted == ["b"]


def test_init_adopts_the_go_plugins_servers(tmp_path):
    cloud = FakeCloud()
    legacy = make_server("legacy", name="g-7", metadata={"fleeting-cluster": "g"})
    cloud.add(legacy, make_server("other", metadata={"fleeting-cluster": "h"}))
    p = start(tmp_path, cloud)
    assert cloud.tagged == [("legacy", "fleeting:g")]
    assert states(p) == {"legacy": State.RUNNING}


def test_a_server_gone_behind_the_plugins_back_is_reported_deleted_once(tmp_path):
    """A server the last Update listed and Nova no longer has: ``deleted`` in the next Update (so
    fleeting's Provisioner drops it at once instead of pruning it as timed out after 5 more
    Updates), then never again."""
    cloud = FakeCloud()
    p = start(tmp_path, cloud)
    cloud.add(member("a"), member("b"))
    assert states(p) == {"a": State.RUNNING, "b": State.RUNNING}
    cloud.delete_server("a")  # as an admin would, behind the plugin's back
    cloud.finish_deletes()
    first = p.update()
    assert dict(first) == {"a": State.DELETED, "b": State.RUNNING}
    assert [sid for sid, _ in first].count("a") == 1
    for _ in range(3):
        assert states(p) == {"b": State.RUNNING}
    # one the plugin deleted itself goes deleting -> deleted -> never again, too
    cloud.set_status("b", "SHUTOFF")
    assert states(p) == {"b": State.DELETING}
    cloud.finish_deletes()
    assert states(p) == {"b": State.DELETED}
    assert states(p) == {}
