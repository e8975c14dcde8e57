"""Every Nova status is mapped on purpose (fault injection with a stub cloud:
the devcloud cannot put servers into most of these states on demand)."""

from __future__ import annotations

import time
import types

import pytest

from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.openstack.client import Address, Server
from fleeting_openstack.provider.group import TRANSITIONAL, UNUSABLE, OpenStackProvider


class StubCloud:
    def __init__(self, console: str = "") -> None:
        self.deleted: list[str] = []
        self.console = console
        self.console_fails = False

    def delete_server(self, server_id: str) -> None:
        self.deleted.append(server_id)

    def get_server(self, server_id: str) -> Server:
        return server(server_id, "ERROR", fault="No valid host was found.")

    def console_tail(self, server_id: str, lines: int) -> str:
        if self.console_fails:
            raise RuntimeError("console unavailable")
        return self.console


def server(sid: str, status: str, age: float = 10.0, task_state=None, fault: str = "") -> Server:
    return Server(id=sid, name=f"n-{sid}", status=status, task_state=task_state,
                  created=time.time() - age, metadata={}, tags=[],
                  addresses=[Address("workers", "10.1.0.5", 4, "fixed")], image_id=None, flavor=None,
                  fault=fault)


def provider(boot_time=None, on_boot_timeout="running", console="") -> OpenStackProvider:
    from fleeting_openstack.plugin.manager import StrategyManager

    p = OpenStackProvider()
    p.cloud = StubCloud(console)
    p.strategy = StrategyManager.load().strategy("cloud-init", {})
    p.cfg = types.SimpleNamespace(
        boot_time=boot_time, build_timeout=60.0,
        readiness=types.SimpleNamespace(console_lines=100, on_boot_timeout=on_boot_timeout, probe="none"))
    return p


@pytest.mark.parametrize("status", sorted(UNUSABLE))
def test_unusable_statuses_are_deleted_by_the_plugin(status):
    p = provider()
    assert p._state_of(server("a", status), time.time()) is State.DELETING
    assert p.cloud.deleted == ["a"]
    # Reported as deleting again, but not deleted twice within a minute.
    assert p._state_of(server("a", status), time.time()) is State.DELETING
    assert p.cloud.deleted == ["a"]


def test_stuck_in_build_is_deleted():
    p = provider()
    assert p._state_of(server("young", "BUILD", age=30), time.time()) is State.CREATING
    assert p._state_of(server("old", "BUILD", age=61), time.time()) is State.DELETING
    assert p.cloud.deleted == ["old"]


@pytest.mark.parametrize("status", sorted(TRANSITIONAL))
def test_transitional_statuses_keep_the_server(status):
    p = provider()
    assert p._state_of(server("new", status), time.time()) is State.CREATING
    assert p._state_of(server("ok", "ACTIVE"), time.time()) is State.RUNNING
    assert p._state_of(server("ok", status), time.time()) is State.RUNNING
    assert p.cloud.deleted == []


def test_deleted_and_deleting():
    p = provider()
    assert p._state_of(server("a", "DELETED"), time.time()) is State.DELETED
    assert p._state_of(server("b", "ACTIVE", task_state="deleting"), time.time()) is State.DELETING
    assert p.cloud.deleted == []


FINISHED = "Cloud-init v. 23.4.4-0ubuntu0~22.04.1 finished at Wed, 10 Jan 2024 10:00:00 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds\n"


def test_active_waits_for_the_marker_then_runs():
    p = provider(boot_time=600)
    assert p._state_of(server("a", "ACTIVE"), time.time()) is State.CREATING
    p.cloud.console = "boot...\n" + FINISHED
    assert p._state_of(server("a", "ACTIVE"), time.time()) is State.RUNNING


def test_console_failure_never_fails_update():
    p = provider(boot_time=600)
    p.cloud.console_fails = True
    assert p._state_of(server("a", "ACTIVE"), time.time()) is State.CREATING


@pytest.mark.parametrize("policy,expected", [("running", State.RUNNING), ("delete", State.DELETING)])
def test_boot_time_expiry_policy(policy, expected):
    p = provider(boot_time=5, on_boot_timeout=policy)
    assert p._state_of(server("a", "ACTIVE", age=6), time.time()) is expected
    assert p.cloud.deleted == (["a"] if policy == "delete" else [])


def test_failed_boot_is_deleted():
    p = provider(boot_time=600, console="Cloud-init v. 22.4.2 running 'modules:final'\n"
                 "2024-01-10 10:00:00,000 - util.py[WARNING]: Failed running /var/lib/cloud/scripts/per-instance/x\n"
                 "Cloud-init v. 22.4.2 finished at Wed, 10 Jan 2024 10:00:00 +0000. Datasource DataSourceNone.  Up 9.0 seconds\n")
    state = p._state_of(server("a", "ACTIVE"), time.time())
    assert state is State.DELETING and p.cloud.deleted == ["a"]


def test_one_bad_server_does_not_fail_update(monkeypatch):
    p = provider()
    good, bad = server("good", "ACTIVE"), server("bad", "ACTIVE")
    monkeypatch.setattr(p, "_group_servers", lambda: [bad, good])
    real = p._state_of

    def flaky(s, now):
        if s.id == "bad":
            raise RuntimeError("boom")
        return real(s, now)

    monkeypatch.setattr(p, "_state_of", flaky)
    assert dict(p.update()) == {"bad": State.CREATING, "good": State.RUNNING}
