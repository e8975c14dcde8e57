"""The OpenStack instance group: fleeting's provider interface over Nova.

Knows the fleeting provider interface, the typed config, the strategies
facade and the cloud adapter; knows nothing of gRPC. Decisions worth knowing
(each is also in docs/):

* Membership: a Nova tag ``fleeting:<name>`` filtered server-side (one request
  per page of the group's own servers), plus metadata ``fleeting-cluster=<name>``
  as the Go plugin wrote it. Servers of the Go plugin found at Init are
  adopted (tagged) so an upgrade loses nothing.
* Names: ``%d`` in ``server_spec.name`` is an index that never repeats for a
  group, also across restarts (a counter in the state directory, raised past
  any index found in the cloud). A name without ``%d`` gets ``-<index>``.
* Servers the runner can never use are deleted by the plugin and reported as
  ``deleting``; the Nova fault message is logged.
* Per-instance keys are derived from a local master secret and a non-secret
  salt kept in the server's metadata, so ConnectInfo works after a restart.
* ``OpenStackProvider(observe=True)`` is the read-only twin used by the
  ``status`` and ``reap`` commands: the same Init and Update decisions, but it
  never deletes, tags or touches the key store.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from fleeting_openstack import __version__
from fleeting_openstack.transport import hclog
from fleeting_openstack.contract.instancegroup import (
    ConnectInfo, InstanceUnhealthy, PartialError, ProviderInfo, Settings, State)

log = logging.getLogger("fleeting_openstack.provider")

META_CLUSTER = "fleeting-cluster"
META_INDEX = "fleeting-index"
META_SALT = "fleeting-key-salt"
META_KEY_TYPE = "fleeting-key-type"
META_REQUEST = "fleeting-request"
#: A check value of the master secret (HMAC of the salt): tells a lost or replaced state dir.
META_KEY_CHECK = "fleeting-key-check"

#: Statuses from which a server never becomes usable for the runner: the
#: plugin deletes them itself (the original leaked them forever).
UNUSABLE = frozenset({"ERROR", "SHUTOFF", "UNKNOWN", "SOFT_DELETED", "SHELVED",
                      "SHELVED_OFFLOADED", "SUSPENDED", "PAUSED", "RESCUE"})
#: Statuses an ACTIVE server passes through and comes back from.
TRANSITIONAL = frozenset({"REBUILD", "MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE",
                          "REBOOT", "HARD_REBOOT", "PASSWORD"})
#: Seconds before a delete the plugin issued is issued again.
REDELETE_AFTER = 60.0


def group_tag(name: str) -> str:
    """The Nova tag marking the group's servers (Nova: <= 60 chars, no '/' or ',')."""
    tag = f"fleeting:{name}"
    if len(tag) <= 60:
        return tag
    import hashlib

    return f"fleeting:{name[:34]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Resolved:
    """What Init resolved once, so Increase does no lookups."""

    image: Any  # openstack.Image
    image_ref: str | None
    flavor_ref: str
    username: str
    internal_network: str | None
    external_network: str | None


def resolve_resources(cloud: Any, cfg: Any, problems: list[str]) -> Resolved:
    """Look up everything server_spec references; append "path: problem" for each miss.

    Shared by Init and ``validate --check-cloud``. ``username`` is left empty.
    """
    from fleeting_openstack.openstack.client import NotFound

    spec = cfg.server_spec
    body = spec.body
    image = None
    image_ref = body.get("imageRef") or None
    try:
        if image_ref or body.get("image_name"):
            image = cloud.image(ref=image_ref, name=body.get("image_name"))
            image_ref = image.id
        else:
            boot = [b for b in body.get("block_device_mapping_v2", [])
                    if b.get("source_type") == "image" and str(b.get("boot_index", "0")) == "0"]
            if boot:
                image = cloud.image(ref=boot[0].get("uuid"))
    except NotFound as exc:
        problems.append(f"server_spec.{'imageRef' if body.get('imageRef') else 'image_name'}: {exc}")
    flavor_ref = ""
    try:
        flavor_ref = cloud.flavor_id(ref=body.get("flavorRef"), name=body.get("flavor_name"))
    except NotFound as exc:
        problems.append(f"server_spec.{'flavorRef' if body.get('flavorRef') else 'flavor_name'}: {exc}")
    networks = body.get("networks")
    if isinstance(networks, list):
        for i, net in enumerate(networks):
            if net.get("uuid") and not cloud.network_exists(net["uuid"]):
                problems.append(f"server_spec.networks[{i}].uuid: network {net['uuid']} not found")
            if net.get("port") and not cloud.port_exists(net["port"]):
                problems.append(f"server_spec.networks[{i}].port: port {net['port']} not found")
    for i, group in enumerate(body.get("security_groups") or []):
        ref = group.get("name") if isinstance(group, dict) else group
        if ref and not cloud.security_group_exists(ref):
            problems.append(f"server_spec.security_groups[{i}]: security group {ref!r} not found")
    if body.get("key_name") and not cloud.keypair_exists(body["key_name"]):
        problems.append(f"server_spec.key_name: keypair {body['key_name']!r} not found")
    group = (spec.scheduler_hints or {}).get("group")
    if group and not cloud.server_group_exists(group):
        problems.append(f"server_spec.scheduler_hints.group: server group {group} not found")

    internal = external = None
    if cfg.address.internal_network:
        internal = cloud.network_name(cfg.address.internal_network)
        if internal is None:
            problems.append(f"address.internal_network: network {cfg.address.internal_network!r} not found")
    if cfg.address.external_network:
        external = cloud.network_name(cfg.address.external_network)
        if external is None:
            problems.append(f"address.external_network: network {cfg.address.external_network!r} not found")
    return Resolved(image=image, image_ref=image_ref, flavor_ref=flavor_ref, username="",
                    internal_network=internal, external_network=external)


def image_info(image: Any, placeholder: bool = False) -> Any:
    """The strategies' view of a Glance image (they never see SDK objects)."""
    from fleeting_openstack.plugin.types import ImageInfo

    if image is None:
        return ImageInfo(id="") if placeholder else None
    p = image.properties
    return ImageInfo(id=image.id, name=image.name, properties=p,
                     os_admin_user=p.get("os_admin_user"), os_type=p.get("os_type"),
                     os_distro=p.get("os_distro"),
                     architecture=p.get("architecture") or p.get("hw_architecture"))


class OpenStackProvider:
    """fleeting InstanceGroup for one group of Nova servers.

    ``observe=True`` makes a read-only evaluator for commands run by people
    (``status``, ``reap``): Init does not raise on resource problems (they are
    kept in ``problems``), adopts (tags) no Go-plugin server and opens no key
    store; Update lists members by tag *or* metadata and never deletes: a server
    the plugin would delete is reported DELETING and listed in ``would_reap``.
    In both modes ``reasons`` holds, per server id, why it got its state.
    """

    def __init__(self, *, observe: bool = False) -> None:
        self.observe = observe
        self.problems: list[str] = []
        self.reasons: dict[str, str] = {}
        self.would_reap: dict[str, str] = {}
        self.cfg: Any = None
        self.settings = Settings()
        self.cloud: Any = None
        self.strategy: Any = None
        self.keys: Any = None
        self.resolved: Resolved | None = None
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._deletes: dict[str, float] = {}
        self._images: dict[str, Any] = {}
        self._warned_expiry: set[str] = set()
        self._tags_in_body = False
        self._tag_filter = False
        self.view: Any = None  # groupview.GroupView: the group as last seen (not when observing)
        self._create_limit: Any = None  # concurrency.AdaptiveLimit
        self._delete_limit: Any = None
        self._breaker: Any = None  # limiter.CreateBreaker
        self.choices: Any = None  # limiter.Choices: flavor/AZ fallbacks
        self.fips: Any = None  # floatingip.FloatingIPs when floating_ip_pool is set
        self.create_blocker = ""  # why creates cannot work (image/flavor gone), else ""
        self._key_mismatch: set[str] = set()

    # -- Init ------------------------------------------------------------------
    def init(self, config: bytes, settings: Settings) -> ProviderInfo:
        """Init; one that fails leaves the previous good configuration in force."""
        saved = dict(self.__dict__)
        try:
            return self._init(config, settings)
        except BaseException:
            new_cloud = self.cloud
            self.__dict__.clear()
            self.__dict__.update(saved)
            if new_cloud is not None and new_cloud is not saved.get("cloud"):
                new_cloud.close()
            if saved.get("cfg") is not None:
                log.error("Init failed; the previous configuration stays in force",
                          extra={"group": saved["cfg"].name})
            raise

    def _init(self, config: bytes, settings: Settings) -> ProviderInfo:
        from fleeting_openstack.config import ConfigError, load_plugin_config
        from fleeting_openstack.openstack.client import microversion_tuple
        from fleeting_openstack.plugin.manager import default_manager

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

        from fleeting_openstack.provider import initchecks

        manager = default_manager()
        for info in manager.installed():
            log.debug("plugin loaded", extra={"plugin": info.name, "version": info.version,
                                              "strategies": list(info.strategies)})
        # Every check lives in initchecks.run, shared with `validate --check-cloud`.
        checks = initchecks.run(cfg, settings.connector, keys="skip" if self.observe else "open")
        self.strategy, self.cloud, self.keys = checks.strategy, checks.cloud, checks.keys
        problems = checks.problems
        if checks.fatal is not None:
            if checks.fatal_key == "strategy":
                raise ValueError(f"plugin_config.strategy: {checks.fatal}")
            fatal = f"clouds_config: {checks.fatal}" if checks.fatal_key == "clouds_config" else checks.fatal
            raise ValueError("; ".join([fatal] + problems))
        mv = microversion_tuple(cfg.nova_microversion)
        self._tags_in_body = mv >= (2, 52)
        self._tag_filter = mv >= (2, 26)
        if not self._tag_filter:
            log.warning("nova_microversion < 2.26 has no tag filter: every Update lists all servers",
                        extra={"nova_microversion": cfg.nova_microversion})

        from fleeting_openstack.provider import safety
        from fleeting_openstack.provider.concurrency import AdaptiveLimit
        from fleeting_openstack.provider.groupview import GroupView, name_prefix

        self.view = None
        if self._tag_filter and not self.observe:
            self.view = GroupView(self.cloud, group_tag(cfg.name), resync_interval=cfg.resync_interval,
                                  prefix=name_prefix(cfg.server_spec.name_template))
            self.view.group = cfg.name
            self.view.stale_limit = cfg.stale_states_limit
            self.view.on_untagged = lambda server: safety.retag(self, server)
        # Start where the fixed pools of old were (5 / 10); AIMD goes up or down from there.
        self._create_limit = AdaptiveLimit("create", cfg.create_concurrency, initial=5)
        self._delete_limit = AdaptiveLimit("delete", cfg.delete_concurrency, initial=10)
        if self.cloud is not None:
            self.cloud.widen_pool(max(cfg.create_concurrency, cfg.delete_concurrency) + 4)
        self._counter_synced = False

        self.resolved = checks.resolved
        self.create_blocker = safety.tolerate_missing_image(self, problems)
        self._breaker, self.choices, self.fips = safety.create_helpers(self, problems)
        self.problems = problems
        if problems and not self.observe:
            raise ValueError(f"Init found {len(problems)} problem(s):\n" +
                             "\n".join(f"  - {p}" for p in problems))
        if not self.observe:
            self._adopt_legacy_servers()
        log.info("group ready", extra={"group": cfg.name, "strategy": self.strategy.name,
                                       "microversion": cfg.nova_microversion,
                                       "username": self.resolved.username})
        return ProviderInfo(id=cfg.provider_id, max_size=cfg.max_size,
                            version=__version__)

    def _adopt_legacy_servers(self) -> None:
        """Tag servers the Go plugin created (metadata only) so the tag filter finds them."""
        if not self._tag_filter:
            return
        tag = group_tag(self.cfg.name)
        for server in self.cloud.list_servers({}):
            if server.metadata.get(META_CLUSTER) == self.cfg.name and tag not in server.tags:
                try:
                    self.cloud.add_tag(server.id, tag)
                    log.info("adopted a server of the Go plugin", extra={"server": server.id,
                                                                          "server_name": server.name})
                except Exception as exc:  # noqa: BLE001 - adoption is best effort
                    log.warning("could not tag server %s: %s", server.id, exc)

    # -- membership --------------------------------------------------------------
    def _group_servers(self) -> list[Any]:
        if self.view is not None:  # the view, refreshed with what changed (groupview.py)
            return self.view.refresh()
        if self._tag_filter and not self.observe:
            return list(self.cloud.list_servers({"tags": group_tag(self.cfg.name)}))
        # Observing adopts nothing, so it also finds Go-plugin servers (metadata only).
        return [s for s in self.cloud.list_servers({}) if self._is_member(s)]

    def _is_member(self, server: Any) -> bool:
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
        evaluated = self.evaluate()
        if self.fips is not None and not self.observe:
            self.fips.on_update(self.view, evaluated)
        return [(server.id, state) for server, state in evaluated]

    def evaluate(self) -> list[tuple[Any, State]]:
        """Update's work: every server of the group with its state (why: ``reasons``)."""
        now = time.time()
        servers = self._group_servers()
        out = []
        for server in servers:
            try:
                state = self._state_of(server, now)
            except Exception as exc:  # noqa: BLE001 - one bad server never fails Update
                log.warning("could not evaluate server %s: %s", server.id, exc,
                            extra={"server": server.id})
                state = State.RUNNING if server.id in self._ready else State.CREATING
                self.reasons[server.id] = f"could not evaluate: {exc}"
            out.append((server, state))
        live = {s.id for s in servers}
        with self._lock:
            for gone in set(self.reasons) - live:
                del self.reasons[gone]
            self._ready &= live
            self._warned_expiry &= live
            for gone in set(self._deletes) - live:
                del self._deletes[gone]
        return out

    def _state_of(self, server: Any, now: float) -> State:
        status = server.status.upper()
        why = self.reasons
        if status == "DELETED":
            why[server.id] = "deleted in Nova"
            return State.DELETED
        from fleeting_openstack.provider import safety

        if server.id not in self._deletes and safety.keys_lost(self, server):
            self._reap(server, "its key was made from another master secret (state dir lost or replaced)")
            return State.DELETING
        if server.task_state == "deleting" or server.id in self._deletes:
            why[server.id] = "being deleted"
            if server.id in self._deletes and now - self._deletes[server.id] > REDELETE_AFTER:
                self._reap(server, "delete did not complete; deleting again")
            return State.DELETING
        if status in UNUSABLE:
            self._reap(server, f"status {status}")
            return State.DELETING
        if status == "BUILD":
            if server.age(now) > self.cfg.build_timeout:
                self._reap(server, f"stuck in BUILD for {int(server.age(now))}s "
                                   f"(build_timeout {int(self.cfg.build_timeout)}s)")
                return State.DELETING
            why[server.id] = f"building (build_timeout {int(self.cfg.build_timeout)}s)"
            return State.CREATING
        if status in TRANSITIONAL:
            why[server.id] = f"{status}: comes back to ACTIVE"
            return State.RUNNING if server.id in self._ready else State.CREATING
        if status != "ACTIVE":
            log.warning("unexpected Nova status %s; waiting", status, extra={"server": server.id})
            why[server.id] = f"unexpected Nova status {status}; waiting"
            return State.CREATING
        if server.id in self._ready:
            return State.RUNNING
        return self._readiness(server, now)

    def _readiness(self, server: Any, now: float) -> State:
        from fleeting_openstack.plugin.types import Observation, ReadinessState

        boot_time = self.cfg.boot_time
        if boot_time is None:
            self._mark_ready(server, "ACTIVE (no boot_time: no console check)")
            return State.RUNNING
        tail = None
        try:
            tail = self.cloud.console_tail(server.id, self.cfg.readiness.console_lines)
        except Exception as exc:  # noqa: BLE001 - a failing console read never fails Update
            log.debug("console read failed: %s", exc, extra={"server": server.id})
        addresses: dict[str, list[str]] = {}
        for a in server.addresses:
            addresses.setdefault(a.network, []).append(a.ip)
        result = self.strategy.readiness(Observation(
            status=server.status, age_seconds=server.age(now), boot_time_seconds=boot_time,
            console_tail=tail, addresses=addresses))
        marker = result.state is ReadinessState.READY
        if marker and self._probe_ok(server):
            self._mark_ready(server, result.reason)
            return State.RUNNING
        if result.state is ReadinessState.FAILED:
            self._reap(server, f"boot failed: {result.reason}")
            return State.DELETING
        if server.age(now) <= boot_time:
            self.reasons[server.id] = (f"{result.reason}; waiting for the {self.cfg.readiness.probe} probe"
                                       if marker else f"waiting for the boot marker: {result.reason}")
            return State.CREATING
        if self.cfg.readiness.on_boot_timeout == "delete":
            self._reap(server, f"no boot marker within boot_time {int(boot_time)}s ({result.reason})")
            return State.DELETING
        if server.id not in self._warned_expiry:
            self._warned_expiry.add(server.id)
            log.warning("boot_time expired without a boot marker; reporting running anyway",
                        extra={"server": server.id, "server_name": server.name, "boot_time": boot_time,
                               "reason": result.reason})
        self._mark_ready(server, "boot_time expired")
        return State.RUNNING

    def _probe_ok(self, server: Any) -> bool:
        probe = self.cfg.readiness.probe
        if probe == "none":
            return True
        from fleeting_openstack.provider.probe import probe_address

        internal, _ = self._addresses(server)
        return bool(internal) and probe_address(internal, self.cfg.readiness.probe_port,
                                                self.cfg.readiness.probe_timeout,
                                                banner=(probe == "ssh-banner"))

    def _mark_ready(self, server: Any, reason: str) -> None:
        self.reasons[server.id] = reason
        with self._lock:
            self._ready.add(server.id)
        log.info("instance ready", extra={"server": server.id, "server_name": server.name, "reason": reason,
                                          "age": round(server.age(), 1)})
        from fleeting_openstack.provider import metrics

        metrics.ready_seconds(server.age())

    def _reap(self, server: Any, reason: str) -> None:
        """Delete a server the runner can never use (at most once a minute)."""
        from fleeting_openstack.openstack.client import NotFound

        self.reasons[server.id] = reason
        if self.observe:  # read-only: report what Update would delete, never delete
            self.would_reap[server.id] = reason
            return
        with self._lock:
            last = self._deletes.get(server.id)
            if last is not None and time.time() - last < REDELETE_AFTER:
                return
            self._deletes[server.id] = time.time()
            self._ready.discard(server.id)
        if server.status == "ERROR" and not server.fault:
            try:  # list responses may omit the fault; the server's own record has it
                server = self.cloud.get_server(server.id)
            except Exception:  # noqa: BLE001
                pass
        log.warning("deleting unusable server: %s", reason,
                    extra={"server": server.id, "server_name": server.name, "status": server.status,
                           "fault": server.fault})
        if server.status == "ERROR" and self.choices is not None:
            from fleeting_openstack.provider.limiter import is_capacity

            if is_capacity(server.fault):
                self._breaker.failed(f"server went to ERROR: {server.fault}")
                self.choices.advance(self.choices.current, server.fault)
        from fleeting_openstack.provider import metrics

        try:
            self.cloud.delete_server(server.id)
        except NotFound:
            pass
        except Exception as exc:  # noqa: BLE001 - retried at the next Update
            log.warning("delete of server %s failed: %s", server.id, exc)
        if self.fips is not None:
            self.fips.release(server.id)
            metrics.failed("delete", exc)
        else:
            metrics.deleted(metrics.reap_reason(reason))
        self._forget_key(server)

    def _forget_key(self, server: Any) -> None:
        salt = server.metadata.get(META_SALT)
        if self.keys is not None and salt:
            try:
                self.keys.forget(salt)
            except Exception:  # noqa: BLE001
                pass

    # -- Increase --------------------------------------------------------------------
    def increase(self, delta: int) -> int:
        if delta <= 0:
            return 0
        wanted = delta
        from fleeting_openstack.provider.limiter import cap_increase

        delta, refused = cap_increase(self, delta)
        outcomes: list[Any] = []
        if delta:
            # Threads up to the configured bound; the adaptive window gates the POSTs.
            with ThreadPoolExecutor(max_workers=min(delta, self._create_limit.maximum),
                                    thread_name_prefix="create") as pool:
                outcomes = list(pool.map(self._create_one, range(delta)))
        errors = [o for o in outcomes if isinstance(o, Exception)]
        made = delta - len(errors)
        reasons = sorted({str(e) for e in errors})
        if refused:
            reasons.insert(0, refused)
        if made < wanted:
            raise PartialError(f"{made} of {wanted} servers requested; "
                               f"{wanted - made} not: {'; '.join(reasons)}", made)
        return made

    def _create_one(self, _: int) -> str | Exception:
        try:
            return self._create()
        except Exception as exc:  # noqa: BLE001 - reported as a partial result
            log.error("create failed: %s", exc)
            from fleeting_openstack.provider import metrics

            metrics.failed("create", exc)
            return exc

    def _create(self) -> str:
        from fleeting_openstack.provider.keys import new_salt
        from fleeting_openstack.provider.limiter import is_capacity
        from fleeting_openstack.openstack.client import CloudError
        from fleeting_openstack.plugin import userdata

        cfg, res = self.cfg, self.resolved
        assert res is not None
        if self.create_blocker:
            raise RuntimeError(self.create_blocker)
        self._breaker.check()
        index = self._next_index()
        name = self._server_name(index)
        import uuid

        request_id = str(uuid.uuid4())
        metadata = dict(cfg.server_spec.body.get("metadata") or {})
        metadata.update({META_CLUSTER: cfg.name, META_INDEX: str(index), META_REQUEST: request_id})
        public_key = None
        salt = None
        info = image_info(res.image) or image_info(None, placeholder=True)
        if self.keys is not None and not self.settings.connector.use_static_credentials:
            key_type = self._key_type(info)
            salt = new_salt()
            public_key = self.keys.instance_key(salt, key_type).public_key_openssh
            metadata.update({META_SALT: salt, META_KEY_TYPE: key_type, META_KEY_CHECK: self.keys.key_check(salt)})
        user_data = userdata.render(self.strategy, cfg, name=name, index=index, region=self.cloud.region,
                                    image=info, username=res.username, public_key=public_key,
                                    password=self.settings.connector.password)

        tags = [group_tag(cfg.name)]
        server_id = None
        while server_id is None:
            choice = self.choices.current
            request = cfg.server_spec.nova_request(
                image_ref=res.image_ref, flavor_ref=choice[0], user_data=user_data,
                metadata=metadata, tags=tags if self._tags_in_body else ())
            request["server"]["name"] = name
            if choice[1]:
                request["server"]["availability_zone"] = choice[1]
            try:
                server_id = self._create_limit.call(lambda: self.cloud.create_server(request))
            except CloudError as exc:
                if exc.outcome_unknown:  # 5xx, reset, timeout: Nova may have made it
                    found, looked = self._find_created(name, request_id)
                    if found:
                        log.warning("create got no clean answer but the server exists; keeping it",
                                    extra={"server": found, "error": str(exc)})
                        server_id = found
                        break
                    if not looked:
                        self._breaker.failed(str(exc))
                        raise CloudError(f"{exc}; could not check whether the server was made: if it was, "
                                         "it shows at the next Update", exc.status) from None
                elif exc.status in (400, 403, 409) and is_capacity(str(exc)) and \
                        self.choices.advance(choice, str(exc)):
                    continue  # refused, nothing made: the next flavor / zone
                self._breaker.failed(str(exc))
                if salt:
                    self.keys.forget(salt)
                raise
        self._breaker.succeeded()
        if self.view is not None:
            self.view.expect(server_id)
        tags = list(cfg.server_spec.tags or []) + tags
        if not self._tags_in_body and self._tag_filter:
            for tag in tags:
                try:
                    self.cloud.add_tag(server_id, tag)
                except CloudError as exc:
                    log.error("tagging failed; deleting the untagged server so it cannot leak",
                              extra={"server": server_id, "error": str(exc)})
                    self.cloud.delete_server(server_id)
                    raise
        log.info("server requested", extra={"server": server_id, "server_name": name, "index": index})
        from fleeting_openstack.provider import metrics

        metrics.created()
        return server_id

    def _key_type(self, info: Any) -> str:
        wanted = self.cfg.credentials.key_type
        return self.strategy.key_type(info) if wanted == "auto" else wanted

    def _find_created(self, name: str, request_id: str) -> tuple[str | None, bool]:
        """After a create with an unknown outcome: (the server with that request id, whether we could look)."""
        import re

        try:
            for server in self.cloud.list_servers({"name": f"^{re.escape(name)}$"}):
                if server.metadata.get(META_REQUEST) == request_id:
                    return server.id, True
        except Exception as exc:  # noqa: BLE001
            log.warning("could not check for a half-created server: %s", exc)
            return None, False
        return None, True

    def _server_name(self, index: int) -> str:
        template = self.cfg.server_spec.name_template
        if "%d" in template:
            return self.cfg.server_spec.render_name(index)
        return f"{template}-{index}"

    def _next_index(self) -> int:
        """A group-wide index that never repeats, also across restarts."""
        from fleeting_openstack.provider.safety import locked

        path = self._counter_path()
        with self._lock, locked(path):
            current = 0
            if path.exists():
                try:
                    current = int(path.read_text().strip() or 0)
                except ValueError:
                    current = 0
            if not getattr(self, "_counter_synced", False):
                known = self.view.snapshot().values() if self.view is not None and self.view.fresh \
                    else self._group_servers()
                for server in known:
                    try:
                        current = max(current, int(server.metadata.get(META_INDEX, 0)))
                    except ValueError:
                        pass
                self._counter_synced = True
            current += 1
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(str(current))
            os.replace(tmp, path)
            return current

    def _counter_path(self) -> Any:
        from pathlib import Path  # not at module level: the provider is imported before the handshake

        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in self.cfg.name)
        return Path(self.cfg.credentials.state_dir) / f"index-{safe}"

    # -- Decrease ---------------------------------------------------------------------
    def decrease(self, ids: Sequence[str]) -> list[str]:
        from fleeting_openstack.provider import metrics
        from fleeting_openstack.openstack.client import NotFound

        if not ids:
            return []
        # The last Update's view (no re-listing); a fresh listing only when there is none.
        fresh = self.view is not None and self.view.fresh
        members = self.view.snapshot() if fresh else {s.id: s for s in self._group_servers()}

        def delete(instance_id: str) -> str | Exception:
            server = members.get(instance_id)
            if server is None:  # not (yet) in the view: ask Nova about this one server
                try:
                    server = self.cloud.get_server(instance_id)
                except NotFound:
                    log.info("deleting server for the runner: already gone", extra={"server": instance_id})
                    return instance_id  # already gone: what the runner wants
                except Exception as exc:  # noqa: BLE001
                    return exc
                if not self._is_member(server):
                    return LookupError(f"{instance_id} is not a server of group {self.cfg.name}")
            log.info("deleting server for the runner",
                     extra={"server": instance_id, "server_name": server.name, "status": server.status})
            try:
                self._delete_limit.call(lambda: self.cloud.delete_server(instance_id))
            except NotFound:
                pass
            except Exception as exc:  # noqa: BLE001
                log.warning("delete of server %s for the runner failed: %s", instance_id, exc)
                metrics.failed("delete", exc)
                return exc
            metrics.deleted("runner")
            with self._lock:
                self._deletes[instance_id] = time.time()
                self._ready.discard(instance_id)
            if self.fips is not None:
                self.fips.release(instance_id)
            self._forget_key(server)
            return instance_id

        with ThreadPoolExecutor(max_workers=min(len(ids), self._delete_limit.maximum),
                                thread_name_prefix="delete") as pool:
            outcomes = list(pool.map(delete, ids))
        done = [o for o in outcomes if isinstance(o, str)]
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise PartialError("; ".join(sorted({str(e) for e in failed})), done)
        return done

    # -- ConnectInfo / Heartbeat ---------------------------------------------------------
    def _member(self, instance_id: str) -> Any:
        from fleeting_openstack.openstack.client import NotFound

        try:
            server = self.cloud.get_server(instance_id)
        except NotFound:
            raise LookupError(f"server {instance_id} not found") from None
        if not self._is_member(server):
            raise LookupError(f"server {instance_id} is not in group {self.cfg.name}")
        return server

    def _addresses(self, server: Any) -> tuple[str, str]:
        """Deterministic (internal, external): fixed IP -> internal, floating -> external,
        preferred IP version first, then network name and address order."""
        prefer = self.cfg.address.ip_version
        res = self.resolved

        def ordered(items: Iterable[Any]) -> list[Any]:
            return sorted(items, key=lambda a: (a.version != prefer, a.network, a.ip))

        fixed = [a for a in server.addresses if a.kind == "fixed"
                 and (res is None or res.internal_network is None or a.network == res.internal_network)]
        floating = [a for a in server.addresses if a.kind == "floating"
                    and (res is None or res.external_network is None or a.network == res.external_network)]
        internal = ordered(fixed)[0].ip if fixed else ""
        external = ordered(floating)[0].ip if floating else ""
        if self.fips is not None and self.fips.address(server.id):
            external = self.fips.address(server.id)
        access = server.access_ipv4 if prefer == 4 else server.access_ipv6
        access = access or server.access_ipv4 or server.access_ipv6
        if not external and access and access != internal:
            external = access
        if not internal:
            internal = access or external
        return internal, external

    def connect_info(self, instance_id: str) -> ConnectInfo:
        server = self._member(instance_id)
        if server.status != "ACTIVE":
            raise RuntimeError(f"server {instance_id} is {server.status}, not ACTIVE")
        internal, external = self._addresses(server)
        connector = self.settings.connector
        overrides: dict[str, Any] = {}
        if not connector.username:
            overrides["username"] = self.resolved.username if self.resolved else ""
        if not connector.protocol:
            overrides["protocol"] = "ssh"
        image = self._server_image(server)
        if not connector.os:
            overrides["os"] = (image.properties.get("os_type") if image else None) or "linux"
        if not connector.arch and image:
            arch = image.properties.get("architecture") or image.properties.get("hw_architecture")
            if arch:
                overrides["arch"] = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
        if not connector.use_static_credentials and self.keys is not None:
            from fleeting_openstack.provider import safety

            if safety.keys_lost(self, server):
                raise RuntimeError(f"server {instance_id}: its SSH key was made from another master secret "
                                   f"(credentials.state_dir lost or replaced); it is being replaced")
            salt = server.metadata.get(META_SALT)
            if not salt:
                raise RuntimeError(f"server {instance_id} has no {META_SALT} metadata: it was not "
                                   "created with a generated key; use static credentials for it")
            key = self.keys.instance_key(salt, server.metadata.get(META_KEY_TYPE, "ed25519"))
            overrides["key"] = key.private_key_pem
        return ConnectInfo(id=instance_id, connector=connector.merged(**overrides),
                           internal_addr=internal, external_addr=external)

    def _server_image(self, server: Any) -> Any:
        if not server.image_id:
            return self.resolved.image if self.resolved else None
        if server.image_id not in self._images:
            try:
                self._images[server.image_id] = self.cloud.image(ref=server.image_id)
            except Exception:  # noqa: BLE001 - image may be deleted; fall back to config
                self._images[server.image_id] = self.resolved.image if self.resolved else None
        return self._images[server.image_id]

    def heartbeat(self, instance_id: str) -> None:
        try:
            server = self._member(instance_id)
        except LookupError as exc:
            raise InstanceUnhealthy(str(exc)) from None
        if server.status != "ACTIVE":
            fault = f": {server.fault}" if server.fault else ""
            raise InstanceUnhealthy(f"server {instance_id} is {server.status}{fault}")
        from fleeting_openstack.provider import safety

        if safety.keys_lost(self, server):
            raise InstanceUnhealthy(f"server {instance_id}: its SSH key cannot work (state dir lost or replaced)")

    # -- Shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        log.info("shutdown: servers are left to the runner (delete_instances_on_shutdown)")

    def close(self) -> None:
        if self.cloud is not None:
            self.cloud.close()
