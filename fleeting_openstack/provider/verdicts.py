"""The verdicts on the group's servers: gathered read-only, or acted on (Update).

For each server :func:`states.assess` decides; when it asks for a look at the boot
(an ACTIVE server not known ready) ``readiness.Readiness`` looks and it decides
again. :meth:`Verdicts.assess` stops there (``status``, ``reap``: nothing is
changed, remembered or deleted). :meth:`Verdicts.act` (Update) also does what the
verdicts ask: remembers ready servers, logs what the operator must know (once),
deletes (``deletes.Deletes.reap``). One server that cannot be evaluated never
fails the whole: it keeps its last state (running when it was ready, else creating).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.provider.states import Cause, Memory, Policy, Verdict, assess

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.deletes import Deletes
    from fleeting_openstack.provider.readiness import Readiness
    from fleeting_openstack.provider.safety import KeyGuard
    from fleeting_openstack.provider.suspends import Suspends

log = logging.getLogger("fleeting_openstack.provider")


class Verdicts:
    """Verdicts on servers with the provider's memory; ``reasons``: why each got its state (Update)."""

    def __init__(
        self,
        memory: Memory,
        lock: threading.Lock,
        policy: Policy,
        readiness: Readiness,
        deletes: Deletes,
        guard: KeyGuard,
        reasons: dict[str, str],
        suspends: Suspends | None = None,
    ) -> None:
        self.memory, self.lock, self.policy = memory, lock, policy
        self.readiness, self.deletes, self.guard = readiness, deletes, guard
        self.reasons = reasons
        self.suspends = suspends  # None: suspend_mode off (a mark is still honoured, and dropped never)
        self._warned_expiry: set[str] = set()
        #: server id -> (the Server object, its verdict, memory.keys then) for verdicts that
        #: depend on nothing but the server and memory: RUNNING because ready (see :meth:`_settled`)
        self._settled: dict[str, tuple[Server, Verdict, object]] = {}

    def of(self, server: Server, now: float) -> Verdict:
        """The verdict on one server (looking at its boot when needed); changes nothing."""
        verdict = assess(server, now, self.memory, self.policy)
        if verdict.cause is Cause.LOOK:  # a create's boot, or a resume's
            if verdict.state is State.RESUMING:
                look = self.readiness.look(server, now, self.policy.boot_time, resumed=True)
            else:
                assert self.policy.boot_time is not None
                look = self.readiness.look(server, now, self.policy.boot_time)
            verdict = assess(server, now, self.memory, self.policy, look)
        return verdict

    def assess(self, servers: Iterable[Server], now: float) -> list[tuple[Server, Verdict]]:
        """Every server's verdict; acts on none."""
        return self._each(servers, now, act=False)

    def act(self, servers: Iterable[Server], now: float) -> list[tuple[Server, Verdict]]:
        """Every server's verdict, acted on (Update; ``reasons`` updated)."""
        return self._each(servers, now, act=True)

    def _each(self, servers: Iterable[Server], now: float, *, act: bool) -> list[tuple[Server, Verdict]]:
        out = []
        for server in servers:
            settled = self._settled_verdict(server)
            if settled is not None:  # nothing to act on: RUNNING, cause NONE
                if act:
                    self.reasons[server.id] = settled.reason
                out.append((server, settled))
                continue
            try:
                verdict = self.of(server, now)
                if act:
                    self._act(server, verdict)
                    self._remember(server, verdict)
            except Exception as exc:  # noqa: BLE001 - one bad server never fails Update (or status)
                verdict = self._unknown(server, exc)
            if act:
                self.reasons[server.id] = verdict.reason
            out.append((server, verdict))
        return out

    def _settled_verdict(self, server: Server) -> Verdict | None:
        """The last verdict on this very Server object when it cannot have changed: the view
        hands the same object until the cloud lists the server again, and a RUNNING verdict
        of a ready server reads only the server, ``memory.ready``, ``memory.deletes`` and
        ``memory.keys`` (states.assess), each checked here. At 1,000 servers this is most of
        an Update's CPU (bench/provisioner.py)."""
        memo = self._settled.get(server.id)
        if memo is None or memo[0] is not server or memo[2] is not self.memory.keys:
            return None
        verdict = memo[1]
        if self.memory.ready.get(server.id) != verdict.reason or server.id in self.memory.deletes:
            return None
        return verdict

    def _remember(self, server: Server, verdict: Verdict) -> None:
        if verdict.state is State.RUNNING and verdict.cause in (Cause.READY, Cause.BOOT_EXPIRED):
            # just marked ready (_act): the next assess gives RUNNING with the remembered reason
            reason = self.memory.ready.get(server.id)
            verdict = Verdict(State.RUNNING, reason) if reason is not None else verdict
        if verdict.state is State.RUNNING and verdict.cause is Cause.NONE and not verdict.reap:
            self._settled[server.id] = (server, verdict, self.memory.keys)
        else:
            self._settled.pop(server.id, None)

    def _unknown(self, server: Server, exc: Exception) -> Verdict:
        log.warning("could not evaluate server %s: %s", server.id, exc, extra={"server": server.id})
        return Verdict(
            State.RUNNING if server.id in self.memory.ready else State.CREATING, f"could not evaluate: {exc}"
        )

    def _act(self, server: Server, verdict: Verdict) -> None:
        """Do what the verdict asks: remember readiness, log, delete."""
        cause = verdict.cause
        if cause is Cause.UNEXPECTED:
            log.warning("unexpected Nova status %s; waiting", server.status.upper(), extra={"server": server.id})
        elif cause is Cause.KEYS_LOST:
            self.guard.report(server)
        elif cause is Cause.BOOT_EXPIRED and server.id not in self._warned_expiry:
            self._warned_expiry.add(server.id)
            log.warning(
                "boot_time expired without a boot marker; reporting running anyway",
                extra={
                    "server": server.id,
                    "server_name": server.name,
                    "boot_time": self.policy.boot_time,
                    "reason": verdict.reason,
                },
            )
        if cause in (Cause.READY, Cause.BOOT_EXPIRED):
            self._mark_ready(server, verdict.reason)
        elif cause is Cause.RESUMED:
            if server.id not in self.memory.ready:
                with self.lock:
                    self.memory.ready[server.id] = verdict.reason
                log.info("instance resumed and ready", extra={"server": server.id, "reason": verdict.reason})
            if self.suspends is not None:
                self.suspends.settled(server, verdict.reason)
        if verdict.reap:
            self.deletes.reap(server, verdict.reason)

    def _mark_ready(self, server: Server, reason: str) -> None:
        from fleeting_openstack.provider import metrics

        with self.lock:
            self.memory.ready[server.id] = reason
        log.info(
            "instance ready",
            extra={"server": server.id, "server_name": server.name, "reason": reason, "age": round(server.age(), 1)},
        )
        metrics.ready_seconds(server.age())

    def forget_gone(self, live: set[str]) -> None:
        """Drop what is remembered about servers no longer in the group."""
        with self.lock:
            for gone in set(self.reasons) - live:
                del self.reasons[gone]
            for gone in set(self.memory.ready) - live:
                del self.memory.ready[gone]
            self._warned_expiry &= live
            for gone in set(self._settled) - live:
                del self._settled[gone]
            for gone in set(self.memory.deletes) - live:
                del self.memory.deletes[gone]
            for gone in set(self.memory.resumes) - live:
                del self.memory.resumes[gone]
