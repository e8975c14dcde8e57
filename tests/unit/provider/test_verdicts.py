"""The verdicts on the group's servers (provider/verdicts.py): gathered read-only
(``assess``: status, reap) or acted on (``act``: Update remembers ready servers, reports lost
keys, deletes what ``reap`` asks, warns once); a server that cannot be evaluated keeps its
last state; what is remembered about servers that left the group is forgotten."""

from __future__ import annotations

import logging
import threading
import time

from fleeting_openstack.config.identity import META_KEY_CHECK, META_SALT
from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.openstack.client import Server
from fleeting_openstack.plugin.types import ReadinessState
from fleeting_openstack.provider.states import KEYS_LOST, Cause, Look, Memory, Policy
from fleeting_openstack.provider.verdicts import Verdicts

NOW = time.time()
POLICY = Policy(build_timeout=600.0, boot_time=300.0)


def server(sid: str, status: str = "ACTIVE", *, age: float = 60.0, metadata: dict[str, str] | None = None) -> Server:
    return Server(
        id=sid,
        name=f"g-{sid}",
        status=status,
        task_state=None,
        created=NOW - age,
        metadata=metadata or {},
        tags=[],
        addresses=[],
        image_id=None,
        flavor=None,
    )


class Boots:
    """``readiness.Readiness.look``: what the console shows for each server (default: waiting)."""

    def __init__(self, **looks: Look) -> None:
        self.looks = looks
        self.looked: list[tuple[str, float, float]] = []

    def look(self, server: Server, now: float, boot_time: float) -> Look:
        self.looked.append((server.id, now, boot_time))
        look = self.looks.get(server.id, Look(ReadinessState.WAITING, "no marker yet"))
        if isinstance(look, Exception):
            raise look
        return look


class Reaper:
    """``deletes.Deletes.reap``; ``fail``: raise instead."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.reaped: list[tuple[str, str]] = []
        self.fail = fail

    def reap(self, server: Server, reason: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.reaped.append((server.id, reason))


class Guard:
    """``safety.KeyGuard.report``."""

    def __init__(self) -> None:
        self.reported: list[str] = []

    def report(self, server: Server) -> None:
        self.reported.append(server.id)


class Checks:
    """``states.KeyCheck``: this process's master secret says "ours" for every salt."""

    def key_check(self, salt: str) -> str:
        return "ours"


def verdicts(
    memory: Memory | None = None, boots: Boots | None = None, reaper: Reaper | None = None, policy: Policy = POLICY
) -> tuple[Verdicts, dict[str, str]]:
    reasons: dict[str, str] = {}
    v = Verdicts(memory or Memory(), threading.Lock(), policy, boots or Boots(), reaper or Reaper(), Guard(), reasons)
    return v, reasons


MARKER = Look(ReadinessState.READY, "cloud-init finished", probe_ok=True)


def test_an_active_server_not_known_ready_is_looked_at_then_assessed_again():
    boots = Boots(up=MARKER)
    v, _ = verdicts(boots=boots)
    assert v.of(server("up"), NOW).state is State.RUNNING
    assert v.of(server("booting"), NOW).state is State.CREATING
    assert boots.looked == [("up", NOW, 300.0), ("booting", NOW, 300.0)]
    ready = Memory(ready={"up": "cloud-init finished"})
    boots.looked.clear()
    assert verdicts(ready, boots)[0].of(server("up"), NOW).state is State.RUNNING and boots.looked == []  # known


def test_assess_changes_nothing():
    memory = Memory(keys=Checks())
    reaper = Reaper()
    v, reasons = verdicts(memory, Boots(up=MARKER), reaper)
    lost = server("lost", metadata={META_SALT: "s" * 16, META_KEY_CHECK: "theirs"})
    out = v.assess([server("up"), server("err", "ERROR"), lost], NOW)
    assert [(s.id, verdict.state, verdict.reap) for s, verdict in out] == [
        ("up", State.RUNNING, False),
        ("err", State.DELETING, True),
        ("lost", State.DELETING, True),
    ]
    assert memory.ready == {} and memory.deletes == {} and reaper.reaped == [] and reasons == {}
    assert v.guard.reported == []


def test_act_remembers_ready_servers_and_deletes_what_the_verdict_reaps():
    memory = Memory(keys=Checks())
    reaper = Reaper()
    v, reasons = verdicts(memory, Boots(up=MARKER), reaper)
    lost = server("lost", metadata={META_SALT: "s" * 16, META_KEY_CHECK: "theirs"})
    out = v.act([server("up"), server("err", "ERROR"), lost, server("booting")], NOW)
    assert {s.id: verdict.state for s, verdict in out} == {
        "up": State.RUNNING,
        "err": State.DELETING,
        "lost": State.DELETING,
        "booting": State.CREATING,
    }
    assert memory.ready == {"up": "cloud-init finished"}
    assert reaper.reaped == [("err", "status ERROR"), ("lost", KEYS_LOST)]
    assert v.guard.reported == ["lost"]  # what to do about the state dir, logged by the guard
    assert reasons == {
        "up": "cloud-init finished",
        "err": "status ERROR",
        "lost": KEYS_LOST,
        "booting": "waiting for the boot marker: no marker yet",
    }


def test_a_boot_time_expiry_is_ready_and_warned_about_once(caplog):
    memory = Memory()
    v, _ = verdicts(memory)
    caplog.set_level(logging.WARNING, "fleeting_openstack.provider")
    old = server("old", age=301)
    ((_, verdict),) = v.act([old], NOW)
    assert (verdict.state, verdict.cause) == (State.RUNNING, Cause.BOOT_EXPIRED) and "old" in memory.ready
    memory.ready.clear()  # forgotten (say, a delete was issued) while the server stays
    v.act([old], NOW)
    warnings = [r for r in caplog.records if "boot_time expired" in r.getMessage()]
    assert len(warnings) == 1
    v.forget_gone(set())  # it left the group: a server of that id later is warned about again
    memory.ready.clear()
    v.act([old], NOW)
    assert len([r for r in caplog.records if "boot_time expired" in r.getMessage()]) == 2


def test_an_unexpected_nova_status_is_warned_about_and_waited_for(caplog):
    caplog.set_level(logging.WARNING, "fleeting_openstack.provider")
    reaper = Reaper()
    ((_, verdict),) = verdicts(reaper=reaper)[0].act([server("odd", "FROBNICATING")], NOW)
    assert verdict.state is State.CREATING and reaper.reaped == []
    assert any("unexpected Nova status FROBNICATING" in r.getMessage() for r in caplog.records)


def test_a_server_that_cannot_be_evaluated_keeps_its_last_state():
    boom = RuntimeError("console exploded")
    memory = Memory(ready={"was-ready": "ok"})
    v, reasons = verdicts(memory, Boots(new=boom), Reaper(fail=OSError("delete exploded")))
    out = v.act([server("new"), server("was-ready", "SHUTOFF"), server("fine", "BUILD")], NOW)
    assert [(s.id, verdict.state) for s, verdict in out] == [
        ("new", State.CREATING),  # was never ready
        ("was-ready", State.RUNNING),  # its delete failed: it keeps being reported as it was
        ("fine", State.CREATING),  # the others are evaluated as always
    ]
    assert reasons["new"] == "could not evaluate: console exploded"
    assert reasons["was-ready"] == "could not evaluate: delete exploded"


def test_what_is_remembered_about_servers_that_left_is_forgotten():
    memory = Memory(ready={"a": "ok", "b": "ok"}, deletes={"b": NOW, "c": NOW})
    v, reasons = verdicts(memory)
    v.act([server("a"), server("b"), server("c", "BUILD")], NOW)
    assert set(reasons) == {"a", "b", "c"}
    v.forget_gone({"a"})
    assert set(reasons) == {"a"} and memory.ready == {"a": "ok"} and memory.deletes == {}


def test_a_settled_running_server_is_assessed_again_only_when_something_it_depends_on_changes(monkeypatch):
    """At 1,000 servers assessing every one each Update was most of an Update's CPU
    (bench/provisioner.py): a RUNNING verdict of a ready server is reused while the view
    hands the same Server object and memory (ready, deletes, keys) says the same."""
    import fleeting_openstack.provider.verdicts as module

    assessed: list[str] = []
    real = module.assess

    def counting(srv, *args, **kwargs):
        assessed.append(srv.id)
        return real(srv, *args, **kwargs)

    monkeypatch.setattr(module, "assess", counting)
    memory = Memory(ready={"a": "cloud-init finished"})
    v, reasons = verdicts(memory)
    a = server("a")
    for _ in range(3):
        assert [verdict.state for _, verdict in v.act([a], NOW)] == [State.RUNNING]
    assert assessed == ["a"] and reasons == {"a": "cloud-init finished"}
    memory.ready["a"] = "probe answered"  # memory changed: assessed again
    assert v.act([a], NOW)[0][1].reason == "probe answered" and assessed == ["a", "a"]
    memory.keys = Checks()  # the key check is in force now: assessed again
    v.act([a], NOW)
    assert assessed == ["a"] * 3
    memory.deletes["a"] = NOW  # the plugin deletes it
    assert v.act([a], NOW)[0][1].state is State.DELETING and assessed == ["a"] * 4
    del memory.deletes["a"]
    v.act([a], NOW)
    errored = server("a", "ERROR")  # the cloud listed it again: a new object
    assert v.act([errored], NOW)[0][1].state is State.DELETING and assessed == ["a"] * 6
    v.forget_gone(set())
    assert v._settled == {}


def test_a_server_just_found_ready_is_not_assessed_again_at_the_next_update(monkeypatch):
    """The Update after the one that found a server ready (no boot_time: ACTIVE is ready)
    reuses the verdict that assess would give: RUNNING with the remembered reason."""
    import fleeting_openstack.provider.verdicts as module

    assessed: list[str] = []
    real = module.assess

    def counting(srv, *args, **kwargs):
        assessed.append(srv.id)
        return real(srv, *args, **kwargs)

    monkeypatch.setattr(module, "assess", counting)
    memory = Memory()
    v, reasons = verdicts(memory, policy=Policy(build_timeout=600.0, boot_time=None))
    a = server("a")
    first = v.act([a], NOW)[0][1]
    assert first.state is State.RUNNING and first.cause is Cause.READY and "a" in memory.ready
    again = v.act([a], NOW)[0][1]
    assert assessed == ["a"] and again.state is State.RUNNING and again.reason == memory.ready["a"]
    assert again == real(a, NOW, memory, v.policy)  # what assessing would have said
