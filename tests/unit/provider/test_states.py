"""The pure decision (provider/states.py) for what test_provider_states.py does not take apart:
deleted and deleting servers, an unknown Nova status, the boot marker's outcomes around
``boot_time`` and ``on_boot_timeout``, the key check's edge cases, and Policy from plugin_config."""

from __future__ import annotations

import pytest

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import META_KEY_CHECK, META_SALT
from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.openstack.client import Server
from fleeting_openstack.plugin.types import ReadinessState
from fleeting_openstack.provider.states import (
    KEYS_LOST,
    REDELETE_AFTER,
    Cause,
    Look,
    Memory,
    Policy,
    Verdict,
    assess,
    key_mismatch,
)

NOW = 1_700_000_000.0
BOOT = Policy(build_timeout=600.0, boot_time=300.0)


def server(
    status: str = "ACTIVE", *, age: float = 60.0, task_state: str | None = None, metadata: dict[str, str] | None = None
) -> Server:
    return Server(
        id="s",
        name="g-1",
        status=status,
        task_state=task_state,
        created=NOW - age,
        metadata=metadata or {},
        tags=[],
        addresses=[],
        image_id=None,
        flavor=None,
    )


class Keys:
    """``states.KeyCheck``: the check value this master secret gives every (valid) salt."""

    def key_check(self, salt: str) -> str:
        if not salt.isalnum():
            raise ValueError("not a salt this plugin writes")
        return "ours"


def test_deleted_in_nova_is_deleted_whatever_else_is_known():
    memory = Memory(ready={"s": "ok"}, deletes={"s": NOW}, keys=Keys())
    lost = {META_SALT: "abc", META_KEY_CHECK: "theirs"}
    assert assess(server("deleted", metadata=lost), NOW, memory, BOOT) == Verdict(State.DELETED, "deleted in Nova")


def test_a_server_nova_is_deleting_is_not_deleted_again():
    verdict = assess(server(task_state="deleting"), NOW, Memory(), BOOT)
    assert verdict == Verdict(State.DELETING, "being deleted")
    # the plugin's own delete: not again within REDELETE_AFTER, then again
    mine = Memory(deletes={"s": NOW - REDELETE_AFTER})
    assert assess(server(), NOW, mine, BOOT) == Verdict(State.DELETING, "being deleted")
    mine.deletes["s"] = NOW - REDELETE_AFTER - 0.5
    again = assess(server(), NOW, mine, BOOT)
    assert (again.state, again.reap, again.reason) == (State.DELETING, True, "delete did not complete; deleting again")


def test_a_server_being_deleted_is_not_checked_for_its_key():
    lost = {META_SALT: "abc", META_KEY_CHECK: "theirs"}
    verdict = assess(server(metadata=lost), NOW, Memory(deletes={"s": NOW}, keys=Keys()), BOOT)
    assert verdict == Verdict(State.DELETING, "being deleted")  # not KEYS_LOST again (and not re-deleted)
    assert assess(server(metadata=lost), NOW, Memory(keys=Keys()), BOOT).reason == KEYS_LOST


def test_an_unknown_nova_status_is_waited_for():
    verdict = assess(server("frobnicating"), NOW, Memory(), BOOT)
    assert verdict == Verdict(State.CREATING, "unexpected Nova status FROBNICATING; waiting", cause=Cause.UNEXPECTED)


def test_the_build_timeout_is_a_bound_not_a_wait():
    assert assess(server("BUILD", age=600), NOW, Memory(), BOOT).state is State.CREATING
    late = assess(server("BUILD", age=601), NOW, Memory(), BOOT)
    assert late == Verdict(State.DELETING, "stuck in BUILD for 601s (build_timeout 600s)", reap=True)


WAITING = Look(ReadinessState.WAITING, "cloud-init running")
FAILED = Look(ReadinessState.FAILED, "cloud-init failed: runcmd")
MARKER = Look(ReadinessState.READY, "cloud-init finished")


@pytest.mark.parametrize("on_boot_timeout", ["running", "delete"])
def test_within_boot_time_a_server_waits_for_its_marker(on_boot_timeout):
    policy = Policy(build_timeout=600.0, boot_time=300.0, on_boot_timeout=on_boot_timeout, probe="ssh-banner")
    assert assess(server(age=300), NOW, Memory(), policy, WAITING) == Verdict(
        State.CREATING, "waiting for the boot marker: cloud-init running"
    )
    assert assess(server(age=300), NOW, Memory(), policy, MARKER) == Verdict(
        State.CREATING, "cloud-init finished; waiting for the ssh-banner probe"
    )


def test_past_boot_time_on_boot_timeout_decides():
    running = assess(server(age=301), NOW, Memory(), BOOT, WAITING)
    assert running == Verdict(State.RUNNING, "boot_time expired", cause=Cause.BOOT_EXPIRED)
    delete = Policy(build_timeout=600.0, boot_time=300.0, on_boot_timeout="delete")
    assert assess(server(age=301), NOW, Memory(), delete, WAITING) == Verdict(
        State.DELETING, "no boot marker within boot_time 300s (cloud-init running)", reap=True
    )
    # the marker without the probe past boot_time: the same rule
    assert assess(server(age=301), NOW, Memory(), delete, MARKER).reap


def test_a_failed_boot_is_deleted_at_once():
    assert assess(server(age=5), NOW, Memory(), BOOT, FAILED) == Verdict(
        State.DELETING, "boot failed: cloud-init failed: runcmd", reap=True
    )


def test_key_mismatch_edge_cases():
    keys = Keys()
    assert not key_mismatch(keys, {META_SALT: "abc", META_KEY_CHECK: "ours"})
    assert key_mismatch(keys, {META_SALT: "abc", META_KEY_CHECK: "theirs"})
    assert key_mismatch(keys, {META_SALT: "../etc", META_KEY_CHECK: "ours"})  # a salt the plugin never writes
    assert not key_mismatch(keys, {META_SALT: "abc"})  # made before key checks existed
    assert not key_mismatch(keys, {META_KEY_CHECK: "theirs"})  # no generated key
    assert not key_mismatch(None, {META_SALT: "abc", META_KEY_CHECK: "theirs"})  # nothing to check with


def test_policy_from_plugin_config():
    spec = {"name": "g-%d", "imageRef": "11111111-1111-4111-8111-111111111111", "flavorRef": "f", "networks": "none"}
    cfg = load_plugin_config(
        {
            "name": "g",
            "server_spec": spec,
            "build_timeout": "15m",
            "boot_time": "4m",
            "readiness": {"on_boot_timeout": "delete", "probe": "tcp"},
        }
    ).config
    assert Policy.of(cfg) == Policy(build_timeout=900.0, boot_time=240.0, on_boot_timeout="delete", probe="tcp")
