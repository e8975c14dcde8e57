"""What state a group server is in, and whether the plugin must delete it: a pure decision.

:func:`assess` maps one Nova server to the fleeting state the plugin reports, with the
reason (shown by ``status``) and whether the plugin deletes it (``reap``). It does no
I/O and changes nothing: what it needs to know about the past is in :class:`Memory`
(the servers found ready, when the plugin last deleted one, the key check), what it
needs to know about the boot in a :class:`Look` (the console marker and the probe,
gathered by ``readiness.py``). The orchestrator (``group.py``) acts on the verdict —
deletes when ``reap``, remembers readiness, logs — and ``status``/``reap`` show the
same verdicts without acting, so there is one decision and no read-only flag in it.

Every Nova status is mapped on purpose:

* ``UNUSABLE`` statuses never become usable for the runner: deleted by the plugin
  (the Go plugin leaked them forever), reported ``deleting``;
* ``TRANSITIONAL`` statuses come back to ACTIVE: the server is kept;
* BUILD past ``build_timeout`` is deleted; an ACTIVE server is ready when the boot
  strategy sees its boot marker (and the probe answers), or at once without
  ``boot_time``; past ``boot_time`` ``readiness.on_boot_timeout`` decides.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.config.identity import META_KEY_CHECK, META_SALT
from fleeting_openstack.contract.instancegroup import State

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.plugin.types import ReadinessState

#: Statuses from which a server never becomes usable for the runner: the
#: plugin deletes them itself (the original leaked them forever).
UNUSABLE = frozenset(
    {"ERROR", "SHUTOFF", "UNKNOWN", "SOFT_DELETED", "SHELVED", "SHELVED_OFFLOADED", "SUSPENDED", "PAUSED", "RESCUE"}
)
#: Statuses an ACTIVE server passes through and comes back from.
TRANSITIONAL = frozenset(
    {"REBUILD", "MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "REBOOT", "HARD_REBOOT", "PASSWORD"}
)
#: Seconds before a delete the plugin issued is issued again.
REDELETE_AFTER = 60.0

KEYS_LOST = "its key was made from another master secret (state dir lost or replaced)"


class KeyCheck(Protocol):
    """The master secret's check value of a salt (``keys.KeyStore`` is one)."""

    def key_check(self, salt: str) -> str: ...


class Cause(enum.Enum):
    """What the orchestrator has to do beyond reporting (and deleting when ``reap``)."""

    NONE = "none"
    READY = "ready"  # remember the server as ready
    BOOT_EXPIRED = "boot-expired"  # ready because boot_time ran out: warn once, remember as ready
    KEYS_LOST = "keys-lost"  # its key cannot work: log what to do (once)
    UNEXPECTED = "unexpected-status"  # a Nova status the plugin does not know: warn
    LOOK = "look"  # an ACTIVE server not known ready: look at its boot, then assess again


@dataclass(frozen=True)
class Policy:
    """The configuration the decision depends on."""

    build_timeout: float
    boot_time: float | None = None
    on_boot_timeout: str = "running"  # "running" | "delete"
    probe: str = "none"

    @classmethod
    def of(cls, cfg: PluginConfig) -> Policy:
        return cls(
            build_timeout=cfg.build_timeout,
            boot_time=cfg.boot_time,
            on_boot_timeout=cfg.readiness.on_boot_timeout,
            probe=cfg.readiness.probe,
        )


@dataclass
class Memory:
    """What the provider remembers between Updates.

    ``ready``: server id -> why it was found ready (a ready server stays ready);
    ``deletes``: server id -> when the plugin last issued its delete;
    ``keys``: the master secret's key check when servers' keys are checked (generated
    keys and a key store open), else None.
    """

    ready: dict[str, str] = field(default_factory=dict)
    deletes: dict[str, float] = field(default_factory=dict)
    keys: KeyCheck | None = None


@dataclass(frozen=True)
class Look:
    """What the boot strategy saw on the console (``marker``) and whether the probe answered."""

    marker: ReadinessState
    reason: str
    probe_ok: bool = False


@dataclass(frozen=True)
class Verdict:
    """The state to report, why, and whether the plugin deletes the server now."""

    state: State
    reason: str
    reap: bool = False
    cause: Cause = Cause.NONE


def key_mismatch(keys: KeyCheck | None, metadata: Mapping[str, str]) -> bool:
    """True when the server's key check proves another master secret made its key."""
    salt, check = metadata.get(META_SALT), metadata.get(META_KEY_CHECK)
    if keys is None or not salt or not check:
        return False  # no generated key, or created before key checks existed
    import hmac

    try:
        return not hmac.compare_digest(keys.key_check(salt), check)
    except ValueError:
        return True  # a salt this plugin never writes


def assess(server: Server, now: float, memory: Memory, policy: Policy, look: Look | None = None) -> Verdict:
    """The verdict on ``server`` at ``now``. An ACTIVE server not yet ready needs ``look``:
    without it the verdict has ``cause`` LOOK (look, then assess again)."""
    status = server.status.upper()
    sid = server.id
    if status == "DELETED":
        return Verdict(State.DELETED, "deleted in Nova")
    deleting = sid in memory.deletes
    if not deleting and key_mismatch(memory.keys, server.metadata):
        return Verdict(State.DELETING, KEYS_LOST, reap=True, cause=Cause.KEYS_LOST)
    if server.task_state == "deleting" or deleting:
        if deleting and now - memory.deletes[sid] > REDELETE_AFTER:
            return Verdict(State.DELETING, "delete did not complete; deleting again", reap=True)
        return Verdict(State.DELETING, "being deleted")
    if status in UNUSABLE:
        return Verdict(State.DELETING, f"status {status}", reap=True)
    if status == "BUILD":
        if server.age(now) > policy.build_timeout:
            return Verdict(
                State.DELETING,
                f"stuck in BUILD for {int(server.age(now))}s (build_timeout {int(policy.build_timeout)}s)",
                reap=True,
            )
        return Verdict(State.CREATING, f"building (build_timeout {int(policy.build_timeout)}s)")
    if status in TRANSITIONAL:
        return Verdict(State.RUNNING if sid in memory.ready else State.CREATING, f"{status}: comes back to ACTIVE")
    if status != "ACTIVE":
        return Verdict(State.CREATING, f"unexpected Nova status {status}; waiting", cause=Cause.UNEXPECTED)
    if sid in memory.ready:
        return Verdict(State.RUNNING, memory.ready[sid])
    return _readiness(server, now, policy, look)


def _readiness(server: Server, now: float, policy: Policy, look: Look | None) -> Verdict:
    from fleeting_openstack.plugin.types import ReadinessState

    boot_time = policy.boot_time
    if boot_time is None:
        return Verdict(State.RUNNING, "ACTIVE (no boot_time: no console check)", cause=Cause.READY)
    if look is None:
        return Verdict(State.CREATING, "waiting for a look at the boot", cause=Cause.LOOK)
    marker = look.marker is ReadinessState.READY
    if marker and look.probe_ok:
        return Verdict(State.RUNNING, look.reason, cause=Cause.READY)
    if look.marker is ReadinessState.FAILED:
        return Verdict(State.DELETING, f"boot failed: {look.reason}", reap=True)
    if server.age(now) <= boot_time:
        return Verdict(
            State.CREATING,
            f"{look.reason}; waiting for the {policy.probe} probe"
            if marker
            else f"waiting for the boot marker: {look.reason}",
        )
    if policy.on_boot_timeout == "delete":
        return Verdict(State.DELETING, f"no boot marker within boot_time {int(boot_time)}s ({look.reason})", reap=True)
    return Verdict(State.RUNNING, "boot_time expired", cause=Cause.BOOT_EXPIRED)
