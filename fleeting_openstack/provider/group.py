"""The OpenStack instance group: fleeting's provider interface over Nova, as a thin orchestrator.

Knows the fleeting provider interface, the typed config, the strategies facade and
the cloud adapter; knows nothing of gRPC nor of the transport (the log level is
handed in). Each decision lives in its own module and this class wires them together and acts:

* ``groupstate``: what Init resolves, one frozen ``GroupState`` swapped in with one
  assignment (a failed Init leaves the previous one in force);
* ``states.assess``: the state of each server and whether the plugin deletes it
  (a pure function); ``verdicts``: Update's loop acting on it; ``readiness``: the
  boot marker and probe; ``deletes``: every delete (Decrease's and the plugin's own);
* ``access``: ConnectInfo and Heartbeat;
* ``create``: names (an index that never repeats), the request, 5xx recovery, tagging;
* ``addresses``: what ConnectInfo (and ``status``) report; ``keys``: per-instance keys;
* ``safety``/``increasecap``/``createpause``/``fallbacks``/``concurrency``/``resources.floatingips``/
  ``groupview``: Init's tolerance of a rotated image, Increase's cap, the create pause and
  fallbacks, adaptive windows, floating IPs, the incrementally refreshed member list.

Membership: a Nova tag ``fleeting:<name>`` filtered server-side, plus metadata
``fleeting-cluster=<name>`` as the Go plugin wrote it; Go-plugin servers found at Init
are adopted (tagged) so an upgrade loses nothing.

The read-only twin that the ``status`` and ``reap`` commands use is
:class:`~fleeting_openstack.provider.observer.GroupObserver` (its own module).

(over 400: the one class that wires every fleeting call, Suspend and Resume included, to the
modules that decide; each of its methods only delegates)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from fleeting_openstack import __version__
from fleeting_openstack.contract.instancegroup import (
    ConnectInfo,
    InstanceUnhealthy,
    PartialError,
    ProviderInfo,
    Settings,
    State,
)
from fleeting_openstack.provider import groupstate
from fleeting_openstack.provider.groupstate import MEMBERS_WAIT, GroupState
from fleeting_openstack.provider.states import Memory, Verdict

if TYPE_CHECKING:
    from fleeting_openstack.config import LoadedConfig, PluginConfig
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.cloud import ProviderCloud
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.create import Creator
    from fleeting_openstack.provider.groupview import GroupView
    from fleeting_openstack.provider.initchecks import InitCheckRunner
    from fleeting_openstack.provider.keys import KeyStore

__all__ = ["CAPABILITY_SUSPEND_RESUME", "MEMBERS_WAIT", "OpenStackProvider"]

#: fleeting's capability string for Suspend/Resume (provider.CapabilitySuspendResume).
CAPABILITY_SUSPEND_RESUME = "suspend_resume"

log = logging.getLogger("fleeting_openstack.provider")


class OpenStackProvider:
    """fleeting InstanceGroup for one group of Nova servers (see the module docstring).

    ``checks``: Init's checks and the collaborators they open (default
    ``initchecks.run``: the real cloud; a test passes one returning a fake cloud).
    ``set_log_level``: what plugin_config ``log_level`` is handed to (plugin mode: the
    CLI passes its log handler's setter; the provider knows no transport); None: ignored.
    ``reasons`` holds, per server id, why it got its state at the last Update.
    """

    def __init__(
        self,
        *,
        checks: InitCheckRunner | None = None,
        set_log_level: Callable[[str], None] | None = None,
    ) -> None:
        self._checks = checks
        self._set_log_level = set_log_level
        self.reasons: dict[str, str] = {}
        self._state: GroupState | None = None  # what the last good Init built (groupstate.py)
        self._lock = threading.Lock()
        self._last_states: dict[str, State] = {}  # what the last acting Update reported
        # Servers the last Update reported in a state other than deleted: one of them missing
        # from the next Update is reported deleted, once (see _update).
        self._reported: set[str] = set()
        self._reported_lock = threading.Lock()

    # -- the state in force (read-only views of it; ``state`` has the rest) ----------------
    @property
    def state(self) -> GroupState | None:
        """What the last good Init built; None before."""
        return self._state

    def use_state(self, state: GroupState) -> None:
        """Swap ``state`` in, with one assignment as Init does: for bench/scale.py's "before"
        mode, which runs the provider without its view (``dataclasses.replace(state, view=None)``)."""
        self._state = state

    def _ready(self) -> GroupState:
        state = self._state
        if state is None:
            raise RuntimeError("the provider is not initialised (Init has not succeeded)")
        return state

    @property
    def cfg(self) -> PluginConfig | None:
        return self._state.cfg if self._state is not None else None

    @property
    def cloud(self) -> ProviderCloud | None:
        return self._state.cloud if self._state is not None else None

    @property
    def keys(self) -> KeyStore | None:
        return self._state.keys if self._state is not None else None

    @property
    def view(self) -> GroupView | None:
        """The group as last seen (None without Nova's tag filter)."""
        return self._state.view if self._state is not None else None

    @property
    def delete_limit(self) -> AdaptiveLimit | None:
        return self._state.delete_limit if self._state is not None else None

    @property
    def memory(self) -> Memory:
        """What was learnt about the servers (outlives a new Init: a new configuration, the same servers)."""
        return self._state.memory if self._state is not None else Memory()

    @property
    def create_limit(self) -> AdaptiveLimit | None:
        """The adaptive window of concurrent creates (set at Init; a benchmark may replace it)."""
        return self._state.create_limit if self._state is not None else None

    @create_limit.setter
    def create_limit(self, limit: AdaptiveLimit) -> None:
        state = self._ready()
        state.creator.limit = limit
        self._state = replace(state, create_limit=limit)

    # -- Init ------------------------------------------------------------------
    def init(self, config: bytes, settings: Settings, *, loaded: LoadedConfig | None = None) -> ProviderInfo:
        """Init; one that fails leaves the previous good configuration in force (the new state is
        built aside and swapped in with one assignment).

        ``loaded``: ``config`` already loaded and validated (the commands for people read and
        validate a config once, :mod:`fleeting_openstack.config.sources`); None: load it here."""
        previous = self._state
        try:
            state = self._build(config, settings, loaded)
        except BaseException:
            if previous is not None:
                log.error("Init failed; the previous configuration stays in force", extra={"group": previous.cfg.name})
            raise
        self._state = state
        log.info(
            "group ready",
            extra={
                "group": state.cfg.name,
                "strategy": state.strategy.name,
                "microversion": state.cfg.nova_microversion,
                "username": state.resolved.username,
            },
        )
        from fleeting_openstack import buildinfo

        cfg = state.cfg
        return ProviderInfo(
            id=cfg.provider_id,
            max_size=cfg.max_size,
            version=__version__,
            build_info=buildinfo.one_line(),
            capabilities=() if cfg.suspend_mode == "off" else (CAPABILITY_SUSPEND_RESUME,),
        )

    def _build(self, config: bytes, settings: Settings, loaded: LoadedConfig | None) -> GroupState:
        cfg = groupstate.load(config, loaded)
        if cfg.log_level and self._set_log_level is not None:
            self._set_log_level(cfg.log_level)
        if cfg.metrics_listen:
            from fleeting_openstack.provider import metrics

            try:
                metrics.start(cfg.metrics_listen)
            except (OSError, ValueError) as exc:
                raise ValueError(f"metrics.listen: cannot serve metrics on {cfg.metrics_listen}: {exc}") from None
        found = groupstate.checks(cfg, settings, self._checks, observe=False)
        try:
            state = groupstate.build(
                cfg,
                settings,
                found,
                observe=False,
                memory=self.memory,
                reasons=self.reasons,
                lock=self._lock,
                hooks=groupstate.Hooks(known_members=lambda: self._known_members().values(), expect=self._expect),
            )
            if state.tag_filter:
                from fleeting_openstack.provider import safety

                safety.adopt_legacy_servers(state.cloud, state.cfg.name)
            return state
        except BaseException:
            previous = self._state
            if found.cloud is not None and (previous is None or found.cloud is not previous.cloud):
                found.cloud.close()
            raise

    # -- membership --------------------------------------------------------------
    def members(self) -> list[Server]:
        """The group's servers now (the view refreshed; or listed)."""
        state = self._ready()
        return groupstate.list_members(state.cfg, state.cloud, state.view, by_tag=state.tag_filter)

    def _known_members(self) -> dict[str, Server]:
        """The last Update's view (no re-listing); a fresh listing only when there is none."""
        view = self.view
        if view is not None and (view.fresh or (view.refreshing and view.age() is not None)):
            return view.snapshot()  # a refresh waiting for the cloud is not waited for again
        return {s.id: s for s in self.members()}

    def _expect(self, server_id: str, placeholder: Server | None = None) -> None:
        """A server was just made: the view has it from now on, before any listing shows it."""
        if self.view is not None:
            self.view.expect(server_id, placeholder)

    def is_member(self, server: Server) -> bool:
        return self._ready().is_member(server)

    # -- Update --------------------------------------------------------------------
    def update(self) -> list[tuple[str, State]]:
        from fleeting_openstack.provider import metrics

        started = time.monotonic()
        try:
            result = self._update()
        except Exception as exc:
            metrics.failed("update", exc)
            raise
        finally:
            metrics.update_seconds(time.monotonic() - started)
        metrics.instances([state.value for _, state in result])
        return result

    def _update(self) -> list[tuple[str, State]]:
        state = self._ready()
        verdicts = state.verdicts
        if state.view is not None:
            refreshed = state.view.refresh_within()
            if refreshed is None:  # a refresh is still waiting for the cloud (groupview.py)
                return self._last_known()
            servers = refreshed
        else:
            servers = self.members()
        evaluated = [(server, verdict.state) for server, verdict in verdicts.act(servers, time.time())]
        verdicts.forget_gone({s.id for s in servers})
        if state.fips is not None:
            state.fips.on_update(state.view, evaluated)
        result = self._with_gone([(server.id, state) for server, state in evaluated])
        self._last_states = dict(result)
        return result

    def _last_known(self) -> list[tuple[str, State]]:
        """The view's members with their last known states, without a call to the cloud and
        without acting: what an Update answers while a refresh waits for the cloud. A server
        the last Update did not report (an own create since) gets the state the pure decision
        gives it, creating where that would need a look at its boot."""
        from fleeting_openstack.provider.states import Cause, Policy, assess

        group = self._ready()
        assert group.view is not None
        policy, now, out = Policy.of(group.cfg), time.time(), []
        for server in group.view.snapshot().values():
            verdict = assess(server, now, group.memory, policy)
            state = verdict.state
            if verdict.cause is Cause.LOOK:
                state = self._last_states.get(server.id, State.CREATING)
            out.append((server.id, state))
        return self._with_gone(out)

    def _with_gone(self, result: list[tuple[str, State]]) -> list[tuple[str, State]]:
        """``result`` plus, once, ``deleted`` for each server the previous Update reported and this
        one no longer lists (deleted behind the plugin's back, or its delete completed): the runner
        drops it at once. Unreported, fleeting's Provisioner would wait for 5 more Updates and
        then prune it as timed out (minutes at the runner's idle update_interval). Never again
        afterwards: a server reported after its ``deleted`` would come back as an unexpected one."""
        listed = {sid for sid, _ in result}
        with self._reported_lock:
            gone = sorted(self._reported - listed)
            self._reported = {sid for sid, state in result if state is not State.DELETED}
        for sid in gone:
            log.info("server gone from the group: reporting it deleted", extra={"server": sid})
        return result + [(sid, State.DELETED) for sid in gone]

    def assessments(self) -> list[tuple[Server, Verdict]]:
        """Every server of the group with the verdict Update would act on; acts on none (read-only)."""
        return self._ready().verdicts.assess(self.members(), time.time())

    # -- Increase --------------------------------------------------------------------
    def increase(self, delta: int) -> int:
        if delta <= 0:
            return 0
        from fleeting_openstack.provider.increasecap import cap_increase

        state = self._ready()
        wanted = delta
        creator = state.creator
        delta, refused = cap_increase(
            delta,
            cfg=state.cfg,
            cloud=state.cloud,
            blocker=creator.blocker,
            breaker=creator.breaker,
            choices=state.choices,
            members=self._known_members(),
            deleting=state.memory.deletes,
            floating_ips=state.fips is not None,
        )
        outcomes: list[str | Exception] = []
        if delta:
            # Threads up to the configured bound; the adaptive window gates the POSTs.
            with ThreadPoolExecutor(
                max_workers=min(delta, state.create_limit.maximum), thread_name_prefix="create"
            ) as pool:
                outcomes = list(pool.map(lambda _: self._create_one(creator), range(delta)))
        errors = [o for o in outcomes if isinstance(o, Exception)]
        made = delta - len(errors)
        reasons = sorted({str(e) for e in errors})
        if refused:
            reasons.insert(0, refused)
        if made < wanted:
            raise PartialError(f"{made} of {wanted} servers requested; {wanted - made} not: {'; '.join(reasons)}", made)
        return made

    @staticmethod
    def _create_one(creator: Creator) -> str | Exception:
        try:
            return creator.create()
        except Exception as exc:  # noqa: BLE001 - reported as a partial result
            log.error("create failed: %s", exc)
            from fleeting_openstack.provider import metrics

            metrics.failed("create", exc)
            return exc

    # -- Decrease ---------------------------------------------------------------------
    def decrease(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        state = self._ready()
        # The last Update's view (no re-listing); a fresh listing only when there is none.
        done = state.deletes.for_runner(ids, self._known_members(), state.delete_limit, state.is_member, state.cfg.name)
        if state.view is not None:
            state.view.deleting(done)  # looked up by id until Nova no longer has them
        return done

    # -- Suspend / Resume ----------------------------------------------------------------
    def suspend(self, ids: Sequence[str]) -> list[str]:
        """Park the given instances (``suspend_mode``); the ids started (PartialError if not all)."""
        return self._power("suspend", ids)

    def resume(self, ids: Sequence[str]) -> list[str]:
        """Wake the given parked instances; the ids started (PartialError if not all)."""
        return self._power("resume", ids)

    def _power(self, what: str, ids: Sequence[str]) -> list[str]:
        state = self._ready()
        if state.suspends is None:
            raise NotImplementedError(f"{what}: suspend_mode is off (no suspend_resume capability)")
        if not ids:
            return []
        members = {sid: s for sid, s in self._known_members().items() if state.is_member(s)}
        missing = [sid for sid in ids if sid not in members]
        for sid in missing:  # not in the last view: looked up (an id the view has not seen yet)
            try:
                members[sid] = self._member(sid)
            except LookupError:
                pass
        call = state.suspends.suspend if what == "suspend" else state.suspends.resume
        return call(ids, members)

    # -- ConnectInfo / Heartbeat ---------------------------------------------------------
    def _member(self, instance_id: str) -> Server:
        from fleeting_openstack.openstack.client import NotFound

        state = self._ready()
        try:
            server = state.cloud.get_server(instance_id)
        except NotFound:
            raise LookupError(f"server {instance_id} not found") from None
        if not state.is_member(server):
            raise LookupError(f"server {instance_id} is not in group {state.cfg.name}")
        return server

    def connect_info(self, instance_id: str) -> ConnectInfo:
        server = self._member(instance_id)
        return self._ready().access.connect_info(server)

    def heartbeat(self, instance_id: str) -> None:
        """From the group view while it is within ``stale_states_limit`` of its last good refresh,
        without a call to the cloud (a cloud that hangs cannot fail the runner's health checks,
        nor can health checks of unknown ids pile up on it); else the server is looked up."""
        state = self._ready()
        members = state.view.recent() if state.view is not None else None
        if members is not None:
            server = members.get(instance_id)
            if server is None:
                raise InstanceUnhealthy(f"server {instance_id} is not in group {state.cfg.name}")
        else:
            try:
                server = self._member(instance_id)
            except LookupError as exc:
                raise InstanceUnhealthy(str(exc)) from None
        state.access.heartbeat(server)

    # -- Shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        log.info("shutdown: servers are left to the runner (delete_instances_on_shutdown)")

    def close(self) -> None:
        if self.cloud is not None:
            self.cloud.close()
