"""What Init resolves, as one immutable value: the provider swaps it in with one assignment.

:func:`load` reads plugin_config, :func:`checks` runs Init's checks
(:mod:`.initchecks`), :func:`build` wires every collaborator into a frozen
:class:`GroupState`. The provider (:mod:`.group`) and the read-only observer
(:mod:`.observer`) both build their state here, so ``status`` and ``reap`` see the
group exactly as Init would. A failed Init changes nothing: the state in force is
only replaced once a new one is complete.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_CLUSTER, group_tag

if TYPE_CHECKING:
    from fleeting_openstack.config import LoadedConfig, PluginConfig
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.host import BoundStrategy
    from fleeting_openstack.openstack.models import Server
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.provider.access import Access
    from fleeting_openstack.provider.addresses import Addresses, ServerImages
    from fleeting_openstack.provider.cloud import ProviderCloud
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.create import Creator
    from fleeting_openstack.provider.deletes import Deletes
    from fleeting_openstack.provider.fallbacks import Choices
    from fleeting_openstack.provider.groupview import GroupView
    from fleeting_openstack.provider.imagerefresh import ImageRefresh
    from fleeting_openstack.provider.initchecks import InitCheckRunner, InitChecks
    from fleeting_openstack.provider.keys import KeyStore
    from fleeting_openstack.provider.resources.floatingips import FloatingIPs
    from fleeting_openstack.provider.states import Memory
    from fleeting_openstack.provider.suspends import Suspends
    from fleeting_openstack.provider.verdicts import Verdicts

log = logging.getLogger("fleeting_openstack.provider")

#: Seconds Increase, Decrease and Init wait for the group's refresh in flight (Update waits
#: groupview.UPDATE_WAIT); then they go on with the last known members.
MEMBERS_WAIT = 5.0


@dataclass(frozen=True)
class GroupState:
    """Everything one Init resolved and wired (replaced as a whole by the next Init).

    ``view``: the group as last seen (None when observing or without Nova's tag filter);
    ``fips``: with ``floating_ip_pool``; ``problems``: what an observer's Init found
    (a provider's Init refuses instead)."""

    cfg: PluginConfig
    settings: Settings
    cloud: ProviderCloud
    strategy: BoundStrategy
    keys: KeyStore | None
    resolved: Resolved
    tag_filter: bool
    view: GroupView | None
    choices: Choices
    fips: FloatingIPs | None
    create_limit: AdaptiveLimit
    delete_limit: AdaptiveLimit
    addresses: Addresses
    images: ServerImages
    memory: Memory
    problems: tuple[str, ...]
    creator: Creator
    deletes: Deletes
    verdicts: Verdicts
    access: Access
    #: Suspend/Resume (None: suspend_mode "off").
    suspends: Suspends | None

    def is_member(self, server: Server) -> bool:
        """In the group by its tag, or by the metadata the Go plugin wrote."""
        return is_member(self.cfg.name, server)


def is_member(group: str, server: Server) -> bool:
    return group_tag(group) in server.tags or server.metadata.get(META_CLUSTER) == group


def load(config: bytes, loaded: LoadedConfig | None) -> PluginConfig:
    """plugin_config, loaded and validated (``loaded``: already done); its warnings logged."""
    from fleeting_openstack.config import ConfigError, load_plugin_config

    if loaded is None:
        try:
            loaded = load_plugin_config(config)
        except ConfigError as exc:
            raise ValueError(f"invalid plugin_config:\n{exc}") from None
    for warning in loaded.warnings:
        log.warning("plugin_config: %s", warning)
    return loaded.config


def checks(cfg: PluginConfig, settings: Settings, runner: InitCheckRunner | None, *, observe: bool) -> InitChecks:
    """Init's checks (:func:`.initchecks.run` unless a test passes ``runner``); ValueError when Init
    cannot go on at all. An observer opens no key store."""
    from fleeting_openstack.host import default_manager
    from fleeting_openstack.provider import initchecks

    manager = default_manager()
    for info in manager.installed():
        log.debug(
            "plugin loaded",
            extra={"plugin": info.name, "version": info.version, "strategies": list(info.strategies)},
        )
    run = runner or initchecks.run
    found = run(cfg, settings.connector, keys="skip" if observe else "open")
    if found.fatal is not None:
        if found.cloud is not None:
            found.cloud.close()
        if found.fatal_key == "strategy":
            raise ValueError(f"plugin_config.strategy: {found.fatal}")
        fatal = f"clouds_config: {found.fatal}" if found.fatal_key == "clouds_config" else found.fatal
        raise ValueError("; ".join([fatal, *found.problems]))
    return found


def list_members(cfg: PluginConfig, cloud: ProviderCloud, view: GroupView | None, *, by_tag: bool) -> list[Server]:
    """The group's servers now: the view refreshed (the refresh in flight joined; if the cloud
    hangs, the last known members); else listed by tag (``by_tag``) or by tag or metadata."""
    if view is not None:  # the view, refreshed with what changed (groupview.py)
        servers = view.refresh_within(MEMBERS_WAIT, join=True)
        return servers if servers is not None else list(view.snapshot().values())
    if by_tag:
        return list(cloud.list_servers({"tags": group_tag(cfg.name)}))
    # Observing adopts nothing, so it also finds Go-plugin servers (metadata only).
    return [s for s in cloud.list_servers({}) if is_member(cfg.name, s)]


@dataclass(frozen=True)
class Hooks:
    """What the wired collaborators ask of the provider that owns the state (read at call time,
    so they see the state in force then, not the one being built)."""

    known_members: Callable[[], Iterable[Server]] = lambda: ()
    expect: Callable[[str, Server], None] = lambda server_id, placeholder: None


def build(
    cfg: PluginConfig,
    settings: Settings,
    found: InitChecks,
    *,
    observe: bool,
    memory: Memory,
    reasons: dict[str, str],
    lock: threading.Lock,
    hooks: Hooks,
) -> GroupState:
    """Wire a group state from Init's checks. ``memory``: what the previous state learnt about the
    servers (kept: a new configuration, the same servers); ``reasons``/``lock``: the provider's.
    Raises ValueError on any problem unless ``observe`` (the problems are then in the state);
    the caller closes ``found.cloud`` when it raises."""
    from fleeting_openstack.config.identity import name_prefix
    from fleeting_openstack.config.units import microversion_tuple
    from fleeting_openstack.provider import safety
    from fleeting_openstack.provider.access import Access
    from fleeting_openstack.provider.addresses import Addresses, ServerImages
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.create import Creator, IndexCounter
    from fleeting_openstack.provider.deletes import Deletes
    from fleeting_openstack.provider.groupview import GroupView
    from fleeting_openstack.provider.readiness import Readiness
    from fleeting_openstack.provider.states import Memory, Policy
    from fleeting_openstack.provider.suspends import Suspends
    from fleeting_openstack.provider.verdicts import Verdicts

    cloud, strategy, resolved, keys = found.cloud, found.strategy, found.resolved, found.keys
    assert cloud is not None and strategy is not None and resolved is not None
    problems = list(found.problems)
    mv = microversion_tuple(cfg.nova_microversion)
    tag_filter = mv >= (2, 26)
    if not tag_filter:
        log.warning(
            "nova_microversion < 2.26 has no tag filter: every Update lists all servers",
            extra={"nova_microversion": cfg.nova_microversion},
        )
    tag = group_tag(cfg.name)
    view = None
    if tag_filter and not observe:
        view = GroupView(
            cloud,
            tag,
            resync_interval=cfg.resync_interval,
            prefix=name_prefix(cfg.server_spec.name_template),
            group=cfg.name,
            stale_limit=cfg.stale_states_limit,
            on_untagged=lambda server: safety.retag(cloud, tag, server),
        )
    # Both start at 5, where the fixed create pool of old was (deletes had 10: on the devcloud, deletes
    # complete no faster at 10-20 in flight than at 2-6, bench/sweep.py); throughput moves the window
    # from there (concurrency.py), doubling to 10 and 20 in two windows of answers where the cloud scales.
    create_limit = AdaptiveLimit("create", cfg.create_concurrency, initial=5)
    delete_limit = AdaptiveLimit("delete", cfg.delete_concurrency, initial=5)
    cloud.widen_pool(max(cfg.create_concurrency, cfg.delete_concurrency) + 4)

    blocker = (
        ""
        if observe
        else safety.tolerate_missing_image(problems, lambda: list_members(cfg, cloud, view, by_tag=tag_filter))
    )
    breaker, choices, fips = safety.create_helpers(cfg, cloud, resolved, problems)
    if problems and not observe:
        raise ValueError(f"Init found {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))
    addresses = Addresses(cfg.address.ip_version, resolved, fips)
    images = ServerImages(cloud, resolved.image)
    guard = safety.KeyGuard(
        keys, static_credentials=settings.connector.use_static_credentials, state_dir=cfg.credentials.state_dir
    )
    memory = Memory(ready=memory.ready, deletes=memory.deletes, keys=guard.check, resumes=memory.resumes)
    creator = Creator(
        cfg,
        settings,
        cloud,
        strategy,
        keys,
        resolved,
        counter=IndexCounter(cfg.credentials.state_dir, cfg.name, hooks.known_members),
        limit=create_limit,
        breaker=breaker,
        choices=choices,
        tags_in_body=mv >= (2, 52),
        tag_filter=tag_filter,
        expect=hooks.expect,
        images=_image_refresh(cfg, cloud, resolved) if not observe else None,
    )
    creator.blocker = blocker
    readiness = Readiness(
        cloud,
        strategy,
        cfg.readiness,
        lambda server: addresses.of(server)[0],
        connector=(settings.connector.protocol, settings.connector.protocol_port),
    )
    deletes = Deletes(cloud, memory, lock, keys=keys, fips=fips, breaker=breaker, choices=choices)
    suspends = (
        None
        if cfg.suspend_mode == "off"
        else Suspends(
            cloud,
            cfg.suspend_mode,
            memory,
            lock,
            concurrency=cfg.delete_concurrency,
            remark=view.set_metadata if view is not None else None,
        )
    )
    return GroupState(
        cfg=cfg,
        settings=settings,
        cloud=cloud,
        strategy=strategy,
        keys=keys,
        resolved=resolved,
        tag_filter=tag_filter,
        view=view,
        choices=choices,
        fips=fips,
        create_limit=create_limit,
        delete_limit=delete_limit,
        addresses=addresses,
        images=images,
        memory=memory,
        problems=tuple(problems),
        creator=creator,
        deletes=deletes,
        verdicts=Verdicts(memory, lock, Policy.of(cfg), readiness, deletes, guard, reasons, suspends),
        suspends=suspends,
        access=Access(settings, addresses, images, keys, guard, resolved.username),
    )


def _image_refresh(cfg: PluginConfig, cloud: ProviderCloud, resolved: Resolved) -> ImageRefresh | None:
    """``image_name`` looked up again every ``image_refresh`` (None: imageRef, a volume, or ``0``)."""
    from fleeting_openstack.provider.imagerefresh import ImageRefresh

    name = cfg.server_spec.image_name
    if not name or resolved.image is None or cfg.image_refresh <= 0:
        return None
    return ImageRefresh(cloud, name, cfg.image_properties, cfg.image_refresh, resolved.image)
