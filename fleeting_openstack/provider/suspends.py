"""Suspend and Resume: Nova's power actions on the runner's instances, and the plugin's mark.

``suspend_mode`` chooses how a server is parked: ``stop`` (``os-stop``), ``suspend``
(``suspend``) or ``shelve`` (``shelve``); Resume wakes a server with the action that matches
its Nova status (``SHUTOFF`` -> ``os-start``, ``SUSPENDED`` -> ``resume``, ``SHELVED`` /
``SHELVED_OFFLOADED`` -> ``unshelve``), so a mode changed while servers are parked still
wakes them. Before its action a server gets the metadata mark ``fleeting-suspend``
(:class:`states.SuspendMark`): what tells a parked server of the group from a broken one
(deleted as before), across plugin restarts. A failed action puts the mark back as it was.

Each call acts on every id concurrently (at most ``delete_concurrency`` at once) and answers
the ids it started; what failed (unknown ids, servers of another group, Nova's refusal) is a
:class:`~fleeting_openstack.contract.instancegroup.PartialError` carrying the started ids,
which the contract layer answers the way fleeting's client reads it. An id already in (or on
its way to) the target state is answered as done and not acted on again.

Assumption (named): Nova answers an accepted action with 202 and sets the task state before
it answers (``powering-off``...), so the next Update sees the transition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_SUSPEND
from fleeting_openstack.contract.instancegroup import PartialError
from fleeting_openstack.provider.states import PARKED, SuspendMark

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.cloud import ServerPower
    from fleeting_openstack.provider.states import Memory

__all__ = ["PARK_ACTIONS", "WAKE_ACTIONS", "Suspends"]

log = logging.getLogger("fleeting_openstack.provider")

#: suspend_mode -> the Nova action that parks a server.
PARK_ACTIONS: Mapping[str, str] = {"stop": "os-stop", "suspend": "suspend", "shelve": "shelve"}
#: Nova statuses of a shelved server (Nova changes none of its metadata).
SHELVED = frozenset({"SHELVED", "SHELVED_OFFLOADED"})
#: Nova status of a parked server -> the action that wakes it.
WAKE_ACTIONS: Mapping[str, str] = {
    "SHUTOFF": "os-start",
    "SUSPENDED": "resume",
    "SHELVED": "unshelve",
    "SHELVED_OFFLOADED": "unshelve",
}


class Suspends:
    """Suspend / Resume for one group: ``mode`` is ``suspend_mode`` (not "off")."""

    def __init__(
        self,
        cloud: ServerPower,
        mode: str,
        memory: Memory,
        lock: threading.Lock,
        *,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        remark: Callable[[str, str, str | None], None] | None = None,
    ) -> None:
        """``remark(server_id, key, value)``: tells the group view of a metadata change (None: removed)."""
        if mode not in PARK_ACTIONS:
            raise ValueError(f"suspend_mode {mode!r} has no Nova action")
        self.cloud, self.mode, self.memory, self.lock = cloud, mode, memory, lock
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.remark = remark or (lambda server_id, key, value: None)

    def _mark(self, server_id: str, mark: SuspendMark) -> None:
        self.cloud.set_server_metadata(server_id, {META_SUSPEND: mark.text()})
        self.remark(server_id, META_SUSPEND, mark.text())

    # -- the runner's calls ------------------------------------------------------------------
    def suspend(self, ids: Sequence[str], members: Mapping[str, Server]) -> list[str]:
        """Park each of ``ids`` (members of the group); the ids started (PartialError if not all)."""
        return self._batch("suspend", ids, members, self._suspend_one)

    def resume(self, ids: Sequence[str], members: Mapping[str, Server]) -> list[str]:
        """Wake each of ``ids``; the ids started (PartialError if not all)."""
        return self._batch("resume", ids, members, self._resume_one)

    def _batch(
        self,
        what: str,
        ids: Sequence[str],
        members: Mapping[str, Server],
        one: Callable[[Server], None],
    ) -> list[str]:
        from fleeting_openstack.provider import metrics

        unique = list(dict.fromkeys(ids))
        errors: dict[str, str] = {}
        todo: list[Server] = []
        for sid in unique:
            server = members.get(sid)
            if server is None:
                errors[sid] = "not a server of this group"
            else:
                todo.append(server)

        def run(server: Server) -> tuple[str, str | None]:
            started = time.monotonic()
            try:
                one(server)
            except Exception as exc:  # noqa: BLE001 - one server never fails the others
                metrics.suspend_action(what, "failed", time.monotonic() - started)
                return server.id, str(exc)
            metrics.suspend_action(what, "ok", time.monotonic() - started)
            return server.id, None

        if todo:
            with ThreadPoolExecutor(max_workers=min(len(todo), self.concurrency), thread_name_prefix=what) as pool:
                for sid, error in pool.map(run, todo):
                    if error is not None:
                        errors[sid] = error
        done = [sid for sid in unique if sid not in errors]
        if errors:
            detail = "; ".join(f"{sid}: {why}" for sid, why in errors.items())
            raise PartialError(f"{what}: {len(done)} of {len(unique)} started; {detail}", done)
        return done

    def _suspend_one(self, server: Server) -> None:
        status, mark = server.status.upper(), SuspendMark.of(server.metadata)
        if mark is not None and mark.phase == "suspended":
            log.info("already suspended or suspending", extra={"server": server.id, "status": status})
            return
        if mark is not None:  # resuming: its resume is in flight
            raise RuntimeError(f"server is resuming ({status}); suspend it once it is running")
        if status != "ACTIVE" or server.task_state:
            raise RuntimeError(f"server is {status} (task {server.task_state or 'none'}), not ACTIVE: not suspended")
        action = PARK_ACTIONS[self.mode]
        new = SuspendMark("suspended", self.clock(), action)
        self._mark(server.id, new)
        try:
            self.cloud.server_action(server.id, action)
        except Exception:
            self._unmark(server.id)
            raise
        with self.lock:
            self.memory.ready.pop(server.id, None)  # seen ready again only after a resume
        log.info("suspending", extra={"server": server.id, "server_name": server.name, "action": action})

    def _resume_one(self, server: Server) -> None:
        status, mark = server.status.upper(), SuspendMark.of(server.metadata)
        if mark is None:
            if status == "ACTIVE":
                log.info("resume of a running server: nothing to do", extra={"server": server.id})
                return
            raise RuntimeError(f"server is {status} but was not suspended by this plugin: not resumed")
        if mark.phase == "resuming":
            log.info("already resuming", extra={"server": server.id, "status": status})
            return
        if server.id in self.memory.resumes:
            log.info("already resuming", extra={"server": server.id, "status": status})
            return
        action = WAKE_ACTIONS.get(status)
        if action is None or server.task_state:
            raise RuntimeError(f"server is still suspending ({status}, task {server.task_state or 'none'}): retry")
        now = self.clock()
        if status in SHELVED:
            # Nova refuses metadata changes of a shelved server (409 "in vm_state shelved_offloaded"):
            # its mark keeps saying "suspended"; this process remembers the resume (states.assess).
            with self.lock:
                self.memory.resumes[server.id] = now
        else:
            self._mark(server.id, SuspendMark("resuming", now, action))
        try:
            self.cloud.server_action(server.id, action)
        except Exception:
            if status in SHELVED:
                with self.lock:
                    self.memory.resumes.pop(server.id, None)
            else:
                try:
                    self._mark(server.id, mark)
                except Exception as exc:  # noqa: BLE001 - the resume's own error is the one to report
                    log.warning("could not restore the suspend mark: %s", exc, extra={"server": server.id})
            raise
        log.info("resuming", extra={"server": server.id, "server_name": server.name, "action": action})

    # -- Update's follow-up --------------------------------------------------------------------
    def _unmark(self, server_id: str) -> None:
        try:
            self.cloud.delete_server_metadata(server_id, META_SUSPEND)
            self.remark(server_id, META_SUSPEND, None)
        except Exception as exc:  # noqa: BLE001 - the next Update tries again
            log.warning("could not remove the suspend mark: %s", exc, extra={"server": server_id})

    def settled(self, server: Server, why: str) -> None:
        """A marked server is running again (resumed and ready, or a suspend that never happened):
        drop its mark. Called by Update; a failure is retried at the next one."""
        mark = SuspendMark.of(server.metadata)
        with self.lock:
            resumed = self.memory.resumes.pop(server.id, None)
        if mark is None:
            return
        from fleeting_openstack.provider import metrics

        if resumed is None and mark.phase == "resuming":
            resumed = mark.since
        if resumed is not None:
            metrics.resume_ready_seconds(max(0.0, self.clock() - resumed))
        log.info("running again", extra={"server": server.id, "server_name": server.name, "reason": why})
        self._unmark(server.id)


#: suspend_mode -> Nova's policy rules its calls need (Nova has no API to read a policy: named in
#: ``validate --check-cloud``'s report so an operator can check them; a refusal is a 403 naming the rule).
POLICY_RULES: Mapping[str, tuple[str, ...]] = {
    "stop": ("os_compute_api:servers:stop", "os_compute_api:servers:start"),
    "suspend": ("os_compute_api:os-suspend-server:suspend", "os_compute_api:os-suspend-server:resume"),
    "shelve": ("os_compute_api:os-shelve:shelve", "os_compute_api:os-shelve:unshelve"),
}
_METADATA_RULES = ("os_compute_api:server-metadata:create", "os_compute_api:server-metadata:delete")
#: Image property values (``hypervisor_type``/``img_hv_type``) of servers Nova cannot suspend (Ironic).
_BAREMETAL = frozenset({"ironic", "baremetal"})


def caveats(mode: str, *, boots_from_volume: bool, image_properties: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """What ``validate --check-cloud`` says about ``suspend_mode`` for this server_spec and image:
    (warnings: what cannot work or works differently, "path: message"; notes: what cannot be checked)."""
    if mode not in PARK_ACTIONS:
        return [], []
    warnings: list[str] = []
    hv = (image_properties.get("hypervisor_type") or image_properties.get("img_hv_type") or "").lower()
    if hv in _BAREMETAL and mode in ("suspend", "shelve"):
        warnings.append(
            f"suspend_mode: {mode!r} on a bare-metal image (hypervisor_type {hv}): Ironic cannot {mode} a "
            'server; use suspend_mode "stop" (power off / on)'
        )
    if boots_from_volume and mode == "shelve":
        warnings.append(
            'suspend_mode: "shelve" with a volume-backed server (block_device_mapping_v2 boots from a volume): '
            "Nova makes no image and keeps the volume; unshelve must find a host in the volume's availability "
            'zone, and many clouds refuse it; "stop" keeps the same volume without that risk'
        )
    rules = ", ".join((*POLICY_RULES[mode], *_METADATA_RULES))
    notes = [
        f"suspend_mode {mode!r}: Nova's {PARK_ACTIONS[mode]} and the wake action; the cloud's policy cannot be "
        f"read without acting (rules {rules}): the first Suspend shows a refusal as HTTP 403 naming the rule"
    ]
    return warnings, notes


def parked(server: Server) -> bool:
    """True for a server the plugin parked (its mark, a parked Nova status)."""
    return SuspendMark.of(server.metadata) is not None and server.status.upper() in PARKED
