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
  ``boot_time``; past ``boot_time`` ``readiness.on_boot_timeout`` decides;
* a server carrying the plugin's suspend mark (metadata ``fleeting-suspend``, written by
  Suspend and Resume: :mod:`.suspends`) is ``suspending`` until Nova's status is one of
  ``PARKED`` with no task, then ``suspended`` (across plugin restarts: the mark is in Nova);
  after a Resume ``resuming`` until ACTIVE and the readiness (boot marker and probe, timed
  from the resume) is seen again, then ``running`` (cause RESUMED: the orchestrator drops
  the mark). Without the mark a parked server is unusable, as before.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.config.identity import META_KEY_CHECK, META_SALT, META_SUSPEND
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
#: Nova statuses of a parked server (os-stop, suspend, shelve and the shelve's offload).
PARKED = frozenset({"SHUTOFF", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED"})
#: Seconds a resume may take before the plugin stops waiting for Nova: a resume still parked is
#: reported suspended (the runner may Resume again); also how long a resumed server's probe is
#: waited for without ``boot_time``.
SUSPEND_TIMEOUT = 600.0
#: Seconds a server marked suspended may still be ACTIVE without a task (the mark is written just
#: before the action, and Nova sets the task state before it answers the action). Beyond that it
#: is running again: resumed (by a process that did not rewrite the mark, e.g. a shelved server's
#: resume before a restart) or never parked; it is looked at as a resumed server, then its mark dropped.
SUSPEND_GRACE = 60.0
#: Nova task states of a waking server.
RESUME_TASKS = frozenset({"powering-on", "resuming", "unshelving", "spawning", "networking", "block_device_mapping"})
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
    RESUMED = "resumed"  # ready again after a Resume (or a park that never happened): remember, drop the mark


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
    #: server id -> when this process resumed it without rewriting its mark (Nova refuses metadata
    #: changes of a shelved server: its mark still says "suspended")
    resumes: dict[str, float] = field(default_factory=dict)


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


@dataclass(frozen=True)
class SuspendMark:
    """The plugin's suspend mark on a server: ``phase`` "suspended" or "resuming", since when, by which action."""

    phase: str
    since: float
    action: str = ""

    def text(self) -> str:
        return f"{self.phase} {self.since:.0f} {self.action}".strip()

    @classmethod
    def of(cls, metadata: Mapping[str, str]) -> SuspendMark | None:
        """The mark in ``metadata``; None without one (or one this plugin never writes)."""
        parts = (metadata.get(META_SUSPEND) or "").split()
        if len(parts) < 2 or parts[0] not in ("suspended", "resuming"):
            return None
        try:
            since = float(parts[1])
        except ValueError:
            return None
        return cls(parts[0], since, parts[2] if len(parts) > 2 else "")


def _since(mark: SuspendMark) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(mark.since, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _suspended(
    server: Server, mark: SuspendMark, now: float, memory: Memory, policy: Policy, look: Look | None
) -> Verdict:
    """The verdict on a server carrying the plugin's suspend mark (ERROR and deletes are decided before)."""
    status, task = server.status.upper(), server.task_state
    if mark.phase == "suspended" and server.id in memory.resumes:
        mark = SuspendMark("resuming", memory.resumes[server.id], mark.action)
    since = f"since {_since(mark)}"
    if mark.phase == "suspended":
        if status in PARKED and not task:
            return Verdict(State.SUSPENDED, f"suspended ({status}, {mark.action or 'by the plugin'}) {since}")
        if task in RESUME_TASKS:
            return Verdict(State.RESUMING, f"resuming ({status}, task {task})")
        if status in PARKED or task or now - mark.since <= SUSPEND_GRACE:
            return Verdict(State.SUSPENDING, f"suspending ({status}, task {task or 'none'}) {since}")
        # ACTIVE, no task, long after the mark: running again; looked at as a resumed server
        mark = SuspendMark("resuming", now - SUSPEND_GRACE, mark.action)
    # resuming
    if status in PARKED:
        if task or now - mark.since <= SUSPEND_TIMEOUT:
            return Verdict(State.RESUMING, f"resuming ({status}, task {task or 'none'}) {since}")
        return Verdict(State.SUSPENDED, f"resume did not happen within {int(SUSPEND_TIMEOUT)}s; still {status}")
    if status != "ACTIVE" or task:
        return Verdict(State.RESUMING, f"resuming ({status}, task {task or 'none'}) {since}")
    if server.id in memory.ready:
        return Verdict(State.RUNNING, memory.ready[server.id], cause=Cause.RESUMED)
    age = max(0.0, now - mark.since)
    if policy.boot_time is None:  # no console check: the probe after a resume (readiness.py) decides
        if look is None:
            return Verdict(State.RESUMING, "waiting for a look at the resumed server", cause=Cause.LOOK)
        if look.probe_ok:
            return Verdict(State.RUNNING, f"resumed: {look.reason}", cause=Cause.RESUMED)
        if age <= SUSPEND_TIMEOUT:
            return Verdict(State.RESUMING, f"ACTIVE; {look.reason}")
        return Verdict(State.RUNNING, f"resumed; no probe answer in {int(SUSPEND_TIMEOUT)}s", cause=Cause.RESUMED)
    verdict = _readiness(server, now, policy, look, age=age, waiting=State.RESUMING)
    if verdict.cause in (Cause.READY, Cause.BOOT_EXPIRED):
        return Verdict(State.RUNNING, f"resumed: {verdict.reason}", cause=Cause.RESUMED)
    return verdict


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
    mark = SuspendMark.of(server.metadata)
    if mark is not None and status not in ("ERROR", "UNKNOWN", "SOFT_DELETED"):
        return _suspended(server, mark, now, memory, policy, look)
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


def _readiness(
    server: Server,
    now: float,
    policy: Policy,
    look: Look | None,
    *,
    age: float | None = None,
    waiting: State = State.CREATING,
) -> Verdict:
    """``age``: seconds the boot has had (default: the server's age; a resume's: since the resume);
    ``waiting``: the state while not ready (creating; resuming after a Resume)."""
    from fleeting_openstack.plugin.types import ReadinessState

    boot_time = policy.boot_time
    if age is None:
        age = server.age(now)
    if boot_time is None:
        return Verdict(State.RUNNING, "ACTIVE (no boot_time: no console check)", cause=Cause.READY)
    if look is None:
        return Verdict(waiting, "waiting for a look at the boot", cause=Cause.LOOK)
    marker = look.marker is ReadinessState.READY
    if marker and look.probe_ok:
        return Verdict(State.RUNNING, look.reason, cause=Cause.READY)
    if look.marker is ReadinessState.FAILED:
        return Verdict(State.DELETING, f"boot failed: {look.reason}", reap=True)
    if age <= boot_time:
        return Verdict(
            waiting,
            f"{look.reason}; waiting for the {policy.probe} probe"
            if marker
            else f"waiting for the boot marker: {look.reason}",
        )
    if policy.on_boot_timeout == "delete":
        return Verdict(State.DELETING, f"no boot marker within boot_time {int(boot_time)}s ({look.reason})", reap=True)
    return Verdict(State.RUNNING, "boot_time expired", cause=Cause.BOOT_EXPIRED)
