"""The OpenStack instance group: fleeting's provider interface over Nova, as a thin orchestrator.

Knows the fleeting provider interface, the typed config, the strategies facade and
the cloud adapter; knows nothing of gRPC. Each decision lives in its own module and
this class wires them together and acts:

* ``states.assess``: the state of each server and whether the plugin deletes it
  (a pure function); ``verdicts``: Update's loop acting on it; ``readiness``: the
  boot marker and probe; ``deletes``: every delete (Decrease's and the plugin's own);
* ``access``: ConnectInfo and Heartbeat;
* ``create``: names (an index that never repeats), the request, 5xx recovery, tagging;
* ``addresses``: what ConnectInfo (and ``status``) report; ``keys``: per-instance keys;
* ``safety``/``limiter``/``concurrency``/``floatingip``/``groupview``: Init's tolerance
  of a rotated image, the breaker and fallbacks, adaptive windows, floating IPs, the
  incrementally refreshed member list.

Membership: a Nova tag ``fleeting:<name>`` filtered server-side, plus metadata
``fleeting-cluster=<name>`` as the Go plugin wrote it; Go-plugin servers found at Init
are adopted (tagged) so an upgrade loses nothing.

``OpenStackProvider(observe=True)`` is what the ``status`` and ``reap`` commands use:
Init keeps resource problems in ``problems`` instead of raising, adopts nothing, opens
no key store and serves no metrics; members are listed by tag *or* metadata. Those
commands call :meth:`OpenStackProvider.assessments` (or :meth:`evaluate`), which
never acts; only :meth:`update` acts on the verdicts.

(About 510 lines, over the project's ~400: the seven fleeting commands and the Init that
wires the modules above are the whole class; what is left is wiring, each decision is elsewhere.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleeting_openstack import __version__
from fleeting_openstack.config.identity import META_CLUSTER, group_tag
from fleeting_openstack.contract.instancegroup import (
    ConnectInfo,
    InstanceUnhealthy,
    PartialError,
    ProviderInfo,
    Settings,
    State,
)
from fleeting_openstack.provider.states import Memory, Verdict
from fleeting_openstack.transport import hclog

if TYPE_CHECKING:
    from fleeting_openstack.config import LoadedConfig, PluginConfig
    from fleeting_openstack.host import BoundStrategy
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.provider.access import Access
    from fleeting_openstack.provider.addresses import Addresses, ServerImages
    from fleeting_openstack.provider.collaborators import GroupCloud, InitCheckRunner
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.create import Creator
    from fleeting_openstack.provider.deletes import Deletes
    from fleeting_openstack.provider.floatingip import FloatingIPs
    from fleeting_openstack.provider.groupview import GroupView
    from fleeting_openstack.provider.keys import KeyStore
    from fleeting_openstack.provider.limiter import Choices
    from fleeting_openstack.provider.verdicts import Verdicts

log = logging.getLogger("fleeting_openstack.provider")

#: Seconds Increase, Decrease and Init wait for the group's refresh in flight (Update waits
#: groupview.UPDATE_WAIT); then they go on with the last known members.
MEMBERS_WAIT = 5.0


class OpenStackProvider:
    """fleeting InstanceGroup for one group of Nova servers (see the module docstring).

    ``checks``: Init's checks and the collaborators they open (default
    ``initchecks.run``: the real cloud; a test passes one returning a fake cloud).
    ``reasons`` holds, per server id, why it got its state at the last Update or
    evaluation; ``would_reap`` the servers the last :meth:`evaluate` found the plugin deletes.
    """

    def __init__(self, *, observe: bool = False, checks: InitCheckRunner | None = None) -> None:
        self.observe = observe
        self._checks = checks
        self.problems: list[str] = []
        self.reasons: dict[str, str] = {}
        self.would_reap: dict[str, str] = {}
        self.cfg: PluginConfig | None = None
        self.settings = Settings()
        self.cloud: GroupCloud | None = None
        self.strategy: BoundStrategy | None = None
        self.keys: KeyStore | None = None
        self.resolved: Resolved | None = None
        self.view: GroupView | None = None  # the group as last seen (not when observing)
        self.choices: Choices | None = None  # flavor/AZ fallbacks
        self.fips: FloatingIPs | None = None  # when floating_ip_pool is set
        self._create_limit: AdaptiveLimit | None = None
        self.delete_limit: AdaptiveLimit | None = None
        self.addresses: Addresses | None = None
        self.images: ServerImages | None = None
        self.memory = Memory()
        self._lock = threading.Lock()
        self._tag_filter = False
        self._parts: _Parts | None = None
        self._last_states: dict[str, State] = {}  # what the last acting Update reported
        # Servers the last Update reported in a state other than deleted: one of them missing
        # from the next Update is reported deleted, once (see _update).
        self._reported: set[str] = set()
        self._reported_lock = threading.Lock()

    @property
    def create_limit(self) -> AdaptiveLimit | None:
        """The adaptive window of concurrent creates (set at Init; a benchmark may replace it)."""
        return self._create_limit

    @create_limit.setter
    def create_limit(self, limit: AdaptiveLimit) -> None:
        self._create_limit = limit
        if self._parts is not None:
            self._parts.creator.limit = limit

    @property
    def create_blocker(self) -> str:
        """Why creates cannot work (image/flavor gone), else ""."""
        return self._parts.creator.blocker if self._parts is not None else ""

    # -- Init ------------------------------------------------------------------
    def init(self, config: bytes, settings: Settings, *, loaded: LoadedConfig | None = None) -> ProviderInfo:
        """Init; one that fails leaves the previous good configuration in force.

        ``loaded``: ``config`` already loaded and validated (the commands for people read and
        validate a config once, :mod:`fleeting_openstack.config.sources`); None: load it here."""
        saved = dict(self.__dict__)
        try:
            return self._init(config, settings, loaded)
        except BaseException:
            new_cloud = self.cloud
            self.__dict__.clear()
            self.__dict__.update(saved)
            if new_cloud is not None and new_cloud is not saved.get("cloud"):
                new_cloud.close()
            if saved.get("cfg") is not None:
                log.error("Init failed; the previous configuration stays in force", extra={"group": saved["cfg"].name})
            raise

    def _init(self, config: bytes, settings: Settings, loaded: LoadedConfig | None) -> ProviderInfo:
        from fleeting_openstack.config import ConfigError, load_plugin_config
        from fleeting_openstack.config.identity import name_prefix
        from fleeting_openstack.config.units import microversion_tuple
        from fleeting_openstack.host import default_manager
        from fleeting_openstack.provider import initchecks, safety
        from fleeting_openstack.provider.access import Access
        from fleeting_openstack.provider.addresses import Addresses, ServerImages
        from fleeting_openstack.provider.concurrency import AdaptiveLimit
        from fleeting_openstack.provider.create import Creator, IndexCounter
        from fleeting_openstack.provider.deletes import Deletes
        from fleeting_openstack.provider.groupview import GroupView
        from fleeting_openstack.provider.readiness import Readiness
        from fleeting_openstack.provider.states import Policy
        from fleeting_openstack.provider.verdicts import Verdicts

        if loaded is None:
            try:
                loaded = load_plugin_config(config)
            except ConfigError as exc:
                raise ValueError(f"invalid plugin_config:\n{exc}") from None
        cfg = loaded.config
        for warning in loaded.warnings:
            log.warning("plugin_config: %s", warning)
        if cfg.log_level:
            hclog.set_level(cfg.log_level)
        self.cfg, self.settings = cfg, settings
        if cfg.metrics_listen and not self.observe:
            from fleeting_openstack.provider import metrics

            try:
                metrics.start(cfg.metrics_listen)
            except (OSError, ValueError) as exc:
                raise ValueError(f"metrics.listen: cannot serve metrics on {cfg.metrics_listen}: {exc}") from None

        manager = default_manager()
        for info in manager.installed():
            log.debug(
                "plugin loaded",
                extra={"plugin": info.name, "version": info.version, "strategies": list(info.strategies)},
            )
        # Every check lives in initchecks.run, shared with `validate --check-cloud`.
        run = self._checks or initchecks.run
        checks = run(cfg, settings.connector, keys="skip" if self.observe else "open")
        self.strategy, self.cloud, self.keys = checks.strategy, checks.cloud, checks.keys
        problems = checks.problems
        if checks.fatal is not None:
            if checks.fatal_key == "strategy":
                raise ValueError(f"plugin_config.strategy: {checks.fatal}")
            fatal = f"clouds_config: {checks.fatal}" if checks.fatal_key == "clouds_config" else checks.fatal
            raise ValueError("; ".join([fatal, *problems]))
        cloud, strategy, resolved = checks.cloud, checks.strategy, checks.resolved
        assert cloud is not None and strategy is not None and resolved is not None
        mv = microversion_tuple(cfg.nova_microversion)
        self._tag_filter = mv >= (2, 26)
        if not self._tag_filter:
            log.warning(
                "nova_microversion < 2.26 has no tag filter: every Update lists all servers",
                extra={"nova_microversion": cfg.nova_microversion},
            )

        self.view = None
        tag = group_tag(cfg.name)
        if self._tag_filter and not self.observe:
            view = GroupView(
                cloud, tag, resync_interval=cfg.resync_interval, prefix=name_prefix(cfg.server_spec.name_template)
            )
            view.group = cfg.name
            view.stale_limit = cfg.stale_states_limit
            view.on_untagged = lambda server: safety.retag(cloud, tag, server)
            self.view = view
        # Start where the fixed pools of old were (5 / 10); AIMD goes up or down from there.
        create_limit = self._create_limit = AdaptiveLimit("create", cfg.create_concurrency, initial=5)
        self.delete_limit = AdaptiveLimit("delete", cfg.delete_concurrency, initial=10)
        cloud.widen_pool(max(cfg.create_concurrency, cfg.delete_concurrency) + 4)

        self.resolved = resolved
        blocker = "" if self.observe else safety.tolerate_missing_image(problems, self.members)
        breaker, self.choices, self.fips = safety.create_helpers(cfg, cloud, resolved, problems)
        self.problems = problems
        if problems and not self.observe:
            raise ValueError(f"Init found {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
        self.addresses = Addresses(cfg.address.ip_version, resolved, self.fips)
        self.images = ServerImages(cloud, resolved.image)
        guard = safety.KeyGuard(
            self.keys, static_credentials=settings.connector.use_static_credentials, state_dir=cfg.credentials.state_dir
        )
        # What was learnt about the servers outlives a new Init (a new configuration, the same servers).
        self.memory = Memory(ready=self.memory.ready, deletes=self.memory.deletes, keys=guard.check)
        creator = Creator(
            cfg,
            settings,
            cloud,
            strategy,
            self.keys,
            resolved,
            counter=IndexCounter(cfg.credentials.state_dir, cfg.name, lambda: self._known_members().values()),
            limit=create_limit,
            breaker=breaker,
            choices=self.choices,
            tags_in_body=mv >= (2, 52),
            tag_filter=self._tag_filter,
            expect=self._expect,
        )
        creator.blocker = blocker
        addresses = self.addresses
        policy = Policy.of(cfg)
        readiness = Readiness(cloud, strategy, cfg.readiness, lambda server: addresses.of(server)[0])
        deletes = Deletes(
            cloud, self.memory, self._lock, keys=self.keys, fips=self.fips, breaker=breaker, choices=self.choices
        )
        self._parts = _Parts(
            creator=creator,
            deletes=deletes,
            verdicts=Verdicts(self.memory, self._lock, policy, readiness, deletes, guard, self.reasons),
            access=Access(settings, addresses, self.images, self.keys, guard, resolved.username),
        )
        if self._tag_filter and not self.observe:
            safety.adopt_legacy_servers(cloud, cfg.name)
        log.info(
            "group ready",
            extra={
                "group": cfg.name,
                "strategy": strategy.name,
                "microversion": cfg.nova_microversion,
                "username": resolved.username,
            },
        )
        from fleeting_openstack import buildinfo

        return ProviderInfo(
            id=cfg.provider_id, max_size=cfg.max_size, version=__version__, build_info=buildinfo.one_line()
        )

    def _ready_parts(self) -> tuple[PluginConfig, GroupCloud, _Parts]:
        if self.cfg is None or self.cloud is None or self._parts is None:
            raise RuntimeError("the provider is not initialised (Init has not succeeded)")
        return self.cfg, self.cloud, self._parts

    # -- membership --------------------------------------------------------------
    def members(self) -> list[Server]:
        """The group's servers now (the view refreshed; or listed)."""
        if self.view is not None:  # the view, refreshed with what changed (groupview.py)
            # The refresh in flight (one at most) is joined; if the cloud hangs, the last known members.
            servers = self.view.refresh_within(MEMBERS_WAIT, join=True)
            return servers if servers is not None else list(self.view.snapshot().values())
        cfg, cloud = self.cfg, self.cloud
        assert cfg is not None and cloud is not None
        if self._tag_filter and not self.observe:
            return list(cloud.list_servers({"tags": group_tag(cfg.name)}))
        # Observing adopts nothing, so it also finds Go-plugin servers (metadata only).
        return [s for s in cloud.list_servers({}) if self.is_member(s)]

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
        assert self.cfg is not None
        return group_tag(self.cfg.name) in server.tags or server.metadata.get(META_CLUSTER) == self.cfg.name

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
        if self.observe:
            raise RuntimeError("an observing provider reports (evaluate) and never acts (update)")
        verdicts = self._ready_parts()[2].verdicts
        if self.view is not None:
            refreshed = self.view.refresh_within()
            if refreshed is None:  # a refresh is still waiting for the cloud (groupview.py)
                return self._last_known()
            servers = refreshed
        else:
            servers = self.members()
        evaluated = [(server, verdict.state) for server, verdict in verdicts.act(servers, time.time())]
        verdicts.forget_gone({s.id for s in servers})
        if self.fips is not None:
            self.fips.on_update(self.view, evaluated)
        result = self._with_gone([(server.id, state) for server, state in evaluated])
        self._last_states = dict(result)
        return result

    def _last_known(self) -> list[tuple[str, State]]:
        """The view's members with their last known states, without a call to the cloud and
        without acting: what an Update answers while a refresh waits for the cloud. A server
        the last Update did not report (an own create since) gets the state the pure decision
        gives it, creating where that would need a look at its boot."""
        from fleeting_openstack.provider.states import Cause, Policy, assess

        assert self.view is not None and self.cfg is not None
        policy, now, out = Policy.of(self.cfg), time.time(), []
        for server in self.view.snapshot().values():
            verdict = assess(server, now, self.memory, policy)
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
        return self._ready_parts()[2].verdicts.assess(self.members(), time.time())

    def evaluate(self) -> list[tuple[Server, State]]:
        """:meth:`assessments` as states; ``reasons`` and ``would_reap`` say why (read-only)."""
        assessed = self.assessments()
        self.reasons.clear()  # the same dict Update's verdicts keep their reasons in
        self.reasons.update((s.id, v.reason) for s, v in assessed)
        self.would_reap = {s.id: v.reason for s, v in assessed if v.reap}
        return [(s, v.state) for s, v in assessed]

    # -- Increase --------------------------------------------------------------------
    def increase(self, delta: int) -> int:
        if delta <= 0:
            return 0
        from fleeting_openstack.provider.limiter import cap_increase

        cfg, cloud, parts = self._ready_parts()
        assert self.create_limit is not None and self.choices is not None
        wanted = delta
        creator = parts.creator
        delta, refused = cap_increase(
            delta,
            cfg=cfg,
            cloud=cloud,
            blocker=creator.blocker,
            breaker=creator.breaker,
            choices=self.choices,
            members=self._known_members(),
            deleting=self.memory.deletes,
            floating_ips=self.fips is not None,
        )
        outcomes: list[str | Exception] = []
        if delta:
            # Threads up to the configured bound; the adaptive window gates the POSTs.
            with ThreadPoolExecutor(
                max_workers=min(delta, self.create_limit.maximum), thread_name_prefix="create"
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
        cfg, _, parts = self._ready_parts()
        assert self.delete_limit is not None
        # The last Update's view (no re-listing); a fresh listing only when there is none.
        done = parts.deletes.for_runner(ids, self._known_members(), self.delete_limit, self.is_member, cfg.name)
        if self.view is not None:
            self.view.deleting(done)  # looked up by id until Nova no longer has them
        return done

    # -- ConnectInfo / Heartbeat ---------------------------------------------------------
    def _member(self, instance_id: str) -> Server:
        from fleeting_openstack.openstack.client import NotFound

        cfg, cloud, _ = self._ready_parts()
        try:
            server = cloud.get_server(instance_id)
        except NotFound:
            raise LookupError(f"server {instance_id} not found") from None
        if not self.is_member(server):
            raise LookupError(f"server {instance_id} is not in group {cfg.name}")
        return server

    def connect_info(self, instance_id: str) -> ConnectInfo:
        server = self._member(instance_id)
        return self._ready_parts()[2].access.connect_info(server)

    def heartbeat(self, instance_id: str) -> None:
        """From the group view while it is within ``stale_states_limit`` of its last good refresh,
        without a call to the cloud (a cloud that hangs cannot fail the runner's health checks,
        nor can health checks of unknown ids pile up on it); else the server is looked up."""
        cfg, _, parts = self._ready_parts()
        members = self.view.recent() if self.view is not None else None
        if members is not None:
            server = members.get(instance_id)
            if server is None:
                raise InstanceUnhealthy(f"server {instance_id} is not in group {cfg.name}")
        else:
            try:
                server = self._member(instance_id)
            except LookupError as exc:
                raise InstanceUnhealthy(str(exc)) from None
        parts.access.heartbeat(server)

    # -- Shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        log.info("shutdown: servers are left to the runner (delete_instances_on_shutdown)")

    def close(self) -> None:
        if self.cloud is not None:
            self.cloud.close()


@dataclass(frozen=True)
class _Parts:
    """The collaborators Init wires (replaced as a whole by the next Init)."""

    creator: Creator
    deletes: Deletes
    verdicts: Verdicts
    access: Access
