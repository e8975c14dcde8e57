"""Suspend/Resume (issue 19): suspend_mode's Nova actions, the plugin's suspend mark, the states
Update reports from Nova's status, task state and the mark, and what Heartbeat, Decrease and a
plugin restart do with a parked server. On the shared in-memory cloud (FakeCloud answers the
power actions as Nova does: 409 from a wrong status, a task state while they run); the real
Nova and fleeting's own Provisioner prove it in tests/conformance/test_provisioner.py."""

from __future__ import annotations

import json
import time

import pytest
from support.fakecloud import FakeCloud, init_checks, member, plugin_config

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import META_SUSPEND
from fleeting_openstack.contract.instancegroup import InstanceUnhealthy, PartialError, Settings, State
from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.provider.group import CAPABILITY_SUSPEND_RESUME, OpenStackProvider
from fleeting_openstack.plugin.types import ReadinessState
from fleeting_openstack.provider.states import (
    PARKED,
    SUSPEND_GRACE,
    SUSPEND_TIMEOUT,
    UNUSABLE,
    Cause,
    Look,
    Memory,
    Policy,
    SuspendMark,
    assess,
)

FINISHED = ("Cloud-init v. 23.4.4-0ubuntu0~22.04.1 finished at Wed, 10 Jan 2024 10:00:00 +0000. "
            "Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds\n")
MODES = {"stop": "SHUTOFF", "suspend": "SUSPENDED", "shelve": "SHELVED_OFFLOADED"}


@pytest.fixture(autouse=True)
def ssh_answers(monkeypatch):
    """The probe a resumed server must answer (readiness.py; its own tests: test_probe.py): the
    fake servers' addresses exist nowhere, so ``sshd`` is a switch here."""
    from fleeting_openstack.provider import probe

    up = {"sshd": True, "probed": []}

    def probe_address(host, port, timeout, *, banner):
        up["probed"].append((host, port, banner))
        return up["sshd"]

    monkeypatch.setattr(probe, "probe_address", probe_address)
    return up


def start(tmp_path, cloud: FakeCloud, mode: str | None = "stop", **settings) -> tuple[OpenStackProvider, object]:
    if mode is not None:
        settings["suspend_mode"] = mode
    provider = OpenStackProvider(checks=init_checks(cloud))
    info = provider.init(json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode(), Settings())
    return provider, info


def states(provider: OpenStackProvider) -> dict[str, State]:
    return dict(provider.update())


def marked(phase: str, since: float, action: str = "os-stop") -> dict[str, str]:
    return {META_SUSPEND: SuspendMark(phase, since, action).text()}


# -- config ---------------------------------------------------------------------------------
def test_suspend_mode_defaults_to_stop_and_is_validated():
    base = {"name": "g", "server_spec": {"name": "g-%d", "imageRef": "49cdb143-18bc-4772-b6a9-daed7f6bd54b",
                                         "flavorRef": "1", "networks": "none"}}
    assert load_plugin_config(base, env={}).config.suspend_mode == "stop"
    for mode in ("stop", "suspend", "shelve", "off"):
        assert load_plugin_config({**base, "suspend_mode": mode}, env={}).config.suspend_mode == mode
    with pytest.raises(Exception, match="suspend_mode"):
        load_plugin_config({**base, "suspend_mode": "hibernate"}, env={})


@pytest.mark.parametrize("mode", ["stop", "suspend", "shelve"])
def test_init_declares_the_capability_unless_off(tmp_path, mode):
    _, info = start(tmp_path, FakeCloud(), mode)
    assert info.capabilities == (CAPABILITY_SUSPEND_RESUME,) == ("suspend_resume",)


def test_off_declares_nothing_and_suspend_resume_are_not_implemented(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"))
    provider, info = start(tmp_path, cloud, "off")
    assert info.capabilities == ()
    states(provider)
    with pytest.raises(NotImplementedError, match="suspend_mode is off"):
        provider.suspend(["a"])
    with pytest.raises(NotImplementedError):
        provider.resume(["a"])
    assert cloud.actions == []


# -- the decision -----------------------------------------------------------------------------
POLICY = Policy(build_timeout=60.0)


@pytest.mark.parametrize("status", sorted(PARKED))
def test_a_parked_server_with_the_mark_is_suspended_without_it_unusable(status):
    now = time.time()
    with_mark = member("a", status, metadata=marked("suspended", now - 5))
    verdict = assess(with_mark, now, Memory(), POLICY)
    assert verdict.state is State.SUSPENDED and not verdict.reap and "since" in verdict.reason
    assert status in UNUSABLE
    bare = assess(member("b", status), now, Memory(), POLICY)
    assert bare.state is State.DELETING and bare.reap


def test_suspending_while_nova_works_and_a_lost_suspend_runs_again():
    now = time.time()
    task = member("a", "ACTIVE", task_state="powering-off", metadata=marked("suspended", now - 1))
    assert assess(task, now, Memory(), POLICY).state is State.SUSPENDING
    not_yet = member("a", "ACTIVE", metadata=marked("suspended", now - 1))
    assert assess(not_yet, now, Memory(), POLICY).state is State.SUSPENDING
    # ACTIVE long after the mark: running again (resumed by a process that could not rewrite the
    # mark, or never parked): looked at as a resumed server, then its mark is dropped
    lost = member("a", "ACTIVE", metadata=marked("suspended", now - SUSPEND_GRACE - 1))
    verdict = assess(lost, now, Memory(), POLICY)
    assert verdict.state is State.RESUMING and verdict.cause is Cause.LOOK
    answers = Look(ReadinessState.READY, "resumed; the probe answers", probe_ok=True)
    verdict = assess(lost, now, Memory(), POLICY, answers)
    assert verdict.state is State.RUNNING and verdict.cause is Cause.RESUMED
    # a shelved server's resume (Nova changes no metadata of a shelved server): by task, or remembered
    waking = member("a", "SHELVED_OFFLOADED", task_state="unshelving", metadata=marked("suspended", now - 5, "shelve"))
    assert assess(waking, now, Memory(), POLICY).state is State.RESUMING
    woke = member("a", "ACTIVE", metadata=marked("suspended", now - 5, "shelve"))
    assert assess(woke, now, Memory(), POLICY).state is State.SUSPENDING  # within the grace: not yet parked
    assert assess(woke, now, Memory(resumes={"a": now - 1}), POLICY).state is State.RESUMING


def test_an_error_server_is_deleted_even_with_the_mark():
    now = time.time()
    verdict = assess(member("a", "ERROR", metadata=marked("suspended", now)), now, Memory(), POLICY)
    assert verdict.state is State.DELETING and verdict.reap


def test_resuming_until_ready_again_timed_from_the_resume():
    now = time.time()
    parked = member("a", "SHUTOFF", task_state="powering-on", metadata=marked("resuming", now - 1, "os-start"))
    assert assess(parked, now, Memory(), POLICY).state is State.RESUMING
    # ACTIVE again: with boot_time the boot strategy must look again (the resume's own boot)
    policy = Policy(build_timeout=60.0, boot_time=120.0)
    active = member("a", "ACTIVE", age=86400.0, metadata=marked("resuming", now - 1, "os-start"))
    verdict = assess(active, now, Memory(), policy)
    assert verdict.state is State.RESUMING and verdict.cause is Cause.LOOK
    # without boot_time: the probe after a resume decides (the SSH banner when none is configured)
    verdict = assess(active, now, Memory(), POLICY)
    assert verdict.state is State.RESUMING and verdict.cause is Cause.LOOK
    silent = Look(ReadinessState.READY, "resumed; no probe answer", probe_ok=False)
    assert assess(active, now, Memory(), POLICY, silent).state is State.RESUMING
    answers = Look(ReadinessState.READY, "resumed; the probe answers", probe_ok=True)
    verdict = assess(active, now, Memory(), POLICY, answers)
    assert verdict.state is State.RUNNING and verdict.cause is Cause.RESUMED  # the orchestrator drops the mark
    # a resume Nova never carried out: suspended again after the window
    stale = member("a", "SHUTOFF", metadata=marked("resuming", now - SUSPEND_TIMEOUT - 1, "os-start"))
    assert assess(stale, now, Memory(), POLICY).state is State.SUSPENDED


def test_a_mark_this_plugin_never_writes_is_no_mark():
    assert SuspendMark.of({META_SUSPEND: "yes"}) is None
    assert SuspendMark.of({META_SUSPEND: "suspended soon"}) is None
    assert SuspendMark.of({}) is None
    assert SuspendMark.of({META_SUSPEND: "resuming 12 unshelve"}) == SuspendMark("resuming", 12.0, "unshelve")


# -- the calls, per mode ------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "parked"), sorted(MODES.items()))
def test_suspend_then_resume_through_the_states(tmp_path, mode, parked):
    cloud = FakeCloud()
    cloud.add(member("a"), member("b"), member("c"))
    provider, _ = start(tmp_path, cloud, mode)
    assert set(states(provider).values()) == {State.RUNNING}
    cloud.hold_actions = True
    assert sorted(provider.suspend(["a", "b"])) == ["a", "b"]
    action = {"stop": "os-stop", "suspend": "suspend", "shelve": "shelve"}[mode]
    assert sorted(cloud.actions) == [("a", action), ("b", action)]
    assert states(provider) == {"a": State.SUSPENDING, "b": State.SUSPENDING, "c": State.RUNNING}
    cloud.finish_actions()
    assert states(provider) == {"a": State.SUSPENDED, "b": State.SUSPENDED, "c": State.RUNNING}
    assert cloud.servers["a"].status == parked and not cloud.deleted
    provider.heartbeat("a")  # a parked server is healthy: the runner parked it
    # suspending again answers done and acts on nothing
    assert provider.suspend(["a"]) == ["a"] and len(cloud.actions) == 2

    assert sorted(provider.resume(["a", "b"])) == ["a", "b"]
    wake = {"SHUTOFF": "os-start", "SUSPENDED": "resume", "SHELVED_OFFLOADED": "unshelve"}[parked]
    assert cloud.actions[2:] == [("a", wake), ("b", wake)] or sorted(cloud.actions[2:]) == [("a", wake), ("b", wake)]
    assert states(provider)["a"] is State.RESUMING
    cloud.finish_actions()
    assert states(provider) == {"a": State.RUNNING, "b": State.RUNNING, "c": State.RUNNING}
    assert META_SUSPEND not in cloud.servers["a"].metadata  # the mark is gone once running
    assert provider.resume(["a"]) == ["a"] and len(cloud.actions) == 4  # running: nothing to do


def test_a_resume_nova_refuses_for_one_server_is_partial_with_the_rest_resumed(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"), member("b"), member("c"))
    provider, _ = start(tmp_path, cloud)
    states(provider)
    provider.suspend(["a", "b", "c"])
    assert set(states(provider).values()) == {State.SUSPENDED}
    cloud.action_fails["b"] = CloudError("Nova: HTTP 409: Cannot 'start' instance b while it is in task_state", 409)
    with pytest.raises(PartialError) as err:
        provider.resume(["a", "b", "c"])
    assert sorted(err.value.done) == ["a", "c"] and "b: " in str(err.value) and "409" in str(err.value)
    got = states(provider)
    assert got == {"a": State.RUNNING, "b": State.SUSPENDED, "c": State.RUNNING}
    assert SuspendMark.of(cloud.servers["b"].metadata).phase == "suspended"  # put back as it was


def test_unknown_foreign_and_wrong_state_ids_are_refused_not_acted_on(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"), member("x", group="other"), member("off", "SHUTOFF"), member("b", "BUILD", age=1))
    provider, _ = start(tmp_path, cloud)
    states(provider)
    with pytest.raises(PartialError) as err:
        provider.suspend(["a", "nope", "x", "b"])
    assert err.value.done == ["a"]
    text = str(err.value)
    assert "nope: not a server of this group" in text and "x: not a server of this group" in text
    assert "b: server is BUILD" in text
    assert cloud.actions == [("a", "os-stop")]
    # a SHUTOFF server the plugin did not park is not resumed (it is unusable and deleted)
    with pytest.raises(PartialError, match="not suspended by this plugin"):
        provider.resume(["off"])
    assert cloud.actions == [("a", "os-stop")]


def test_a_refused_suspend_takes_the_mark_back(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"), member("b"))
    provider, _ = start(tmp_path, cloud)
    states(provider)
    cloud.action_fails["b"] = CloudError("HTTP 409", 409)
    with pytest.raises(PartialError) as err:
        provider.suspend(["a", "b"])
    assert err.value.done == ["a"]
    assert META_SUSPEND not in cloud.servers["b"].metadata
    assert states(provider)["b"] is State.RUNNING


def test_a_plugin_restart_keeps_suspended_servers_suspended(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"), member("b"))
    first, _ = start(tmp_path, cloud)
    states(first)
    first.suspend(["a"])
    assert states(first)["a"] is State.SUSPENDED
    second, _ = start(tmp_path, cloud)  # a new process: nothing remembered but what Nova has
    for _ in range(3):
        assert states(second) == {"a": State.SUSPENDED, "b": State.RUNNING}
    assert not cloud.deleted
    second.resume(["a"])
    assert states(second)["a"] is State.RUNNING


def test_decrease_deletes_a_suspended_server(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a"))
    provider, _ = start(tmp_path, cloud)
    states(provider)
    provider.suspend(["a"])
    assert states(provider)["a"] is State.SUSPENDED
    assert provider.decrease(["a"]) == ["a"] and cloud.deleted == ["a"]
    assert states(provider)["a"] is State.DELETING


def test_heartbeat_of_an_unmarked_parked_server_is_unhealthy(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a", "SHUTOFF"))
    provider, _ = start(tmp_path, cloud, resync_interval="0")
    with pytest.raises(InstanceUnhealthy):
        provider.heartbeat("a")


def test_resumed_server_waits_for_the_boot_marker_again(tmp_path):
    cloud = FakeCloud()
    cloud.add(member("a", age=3600.0))
    cloud.console = FINISHED
    provider, _ = start(tmp_path, cloud, boot_time="5m")
    assert states(provider)["a"] is State.RUNNING
    provider.suspend(["a"])
    assert states(provider)["a"] is State.SUSPENDED
    cloud.console = ""  # the console of the new boot has no marker yet
    provider.resume(["a"])
    assert states(provider)["a"] is State.RESUMING
    cloud.console = FINISHED
    assert states(provider)["a"] is State.RUNNING


def test_resumed_server_is_running_only_once_ssh_answers(tmp_path, ssh_answers):
    cloud = FakeCloud()
    cloud.add(member("a"))
    provider, _ = start(tmp_path, cloud)
    assert states(provider)["a"] is State.RUNNING and ssh_answers["probed"] == []  # creates: no probe
    provider.suspend(["a"])
    states(provider)
    ssh_answers["sshd"] = False
    provider.resume(["a"])
    assert states(provider)["a"] is State.RESUMING
    assert states(provider)["a"] is State.RESUMING
    ssh_answers["sshd"] = True
    assert states(provider)["a"] is State.RUNNING
    assert {p[1:] for p in ssh_answers["probed"]} == {(22, True)}  # the SSH banner on probe_port


# -- validate --check-cloud's report ----------------------------------------------------------
def test_caveats_name_what_cannot_work_and_the_policy_rules():
    from fleeting_openstack.provider.suspends import caveats

    warned, notes = caveats("shelve", boots_from_volume=True, image_properties={})
    assert len(warned) == 1 and warned[0].startswith("suspend_mode: ") and "volume-backed" in warned[0]
    assert "os_compute_api:os-shelve:shelve" in notes[0] and "os_compute_api:server-metadata:create" in notes[0]
    assert caveats("stop", boots_from_volume=True, image_properties={})[0] == []
    warned, _ = caveats("suspend", boots_from_volume=False, image_properties={"hypervisor_type": "ironic"})
    assert "Ironic cannot suspend a server" in warned[0]
    assert caveats("off", boots_from_volume=True, image_properties={"hypervisor_type": "ironic"}) == ([], [])


def test_check_cloud_shows_the_caveats_as_warnings(monkeypatch):
    from fleeting_openstack.cli import cloudcheck
    from fleeting_openstack.provider import initchecks

    cfg = load_plugin_config(plugin_config(suspend_mode="shelve"), env={}).config
    found = initchecks.InitChecks(warnings=["suspend_mode: cannot"], summary=[("suspend_mode", "rules")])
    monkeypatch.setattr(initchecks, "run", lambda *a, **k: found)
    issues = cloudcheck.check_cloud(cfg)
    assert [(i.path, i.message, i.severity) for i in issues] == [
        ("suspend_mode", "cannot", "warning"), ("suspend_mode", "rules", "info")]
