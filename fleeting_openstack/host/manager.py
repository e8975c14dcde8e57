"""The host's front: loading the boot-strategy plugins and handing out bound strategies.

The provider and the commands use only :mod:`fleeting_openstack.host`; they never touch pluggy.
Typical use::

    manager = default_manager()                     # entry points, env vars; once per process
    for info in manager.installed():                # log what is installed
        log.info("plugin %s %s: %s", info.name, info.version, info.hooks)
    strategy = manager.strategy("cloud-init", options)   # UnknownStrategyError
    errors = strategy.check(user_data)              # at Init, all errors at once
    user_data = strategy.render_user_data(ctx, credentials)   # at Increase
    result = strategy.readiness(observation)        # at Update

Environment:

* ``FLEETING_OPENSTACK_TRACE_HOOKS=1`` logs every hook call, its arguments and
  its result through the logger ``fleeting_openstack.strategies`` at DEBUG
  (:mod:`fleeting_openstack.host.trace`). Private-key blocks, the operator's
  password and long texts are redacted.
* ``FLEETING_OPENSTACK_BLOCK_PLUGINS=name1,name2`` blocks plugins by name: a
  plain name is an entry point (``flatcar``, ``acme``), ``strategy:NAME`` is
  one strategy whichever plugin registers it. Built-in entry points are named
  after their strategy, so ``cloud-init`` disables the built-in one (and lets
  a third-party strategy of that name take its place); ``strategy:acme-os``
  disables one of the several strategies a package may register.

The pieces: :mod:`.registry` (names, blocking, load errors), :mod:`.hooks`
(one typed method per hook, the only caller of pluggy's hooks), :mod:`.bound`
(:class:`BoundStrategy`), :mod:`.trace` (hook tracing).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import pluggy

from fleeting_openstack.host import trace as hook_trace
from fleeting_openstack.host.bound import MAX_USER_DATA_BASE64, BoundStrategy
from fleeting_openstack.host.hooks import PluggyHooks
from fleeting_openstack.host.registry import (
    BLOCK_ENV,
    STRATEGY_PREFIX,
    PluginLoadError,
    Registry,
    StrategyConflictError,
    UnknownStrategyError,
    blocked_by_env,
)
from fleeting_openstack.host.trace import TRACE_ENV
from fleeting_openstack.plugin import hookspecs
from fleeting_openstack.plugin.types import StrategyError, StrategyOptions

__all__ = [
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "MAX_USER_DATA_BASE64",
    "TRACE_ENV",
    "BoundStrategy",
    "PluginInfo",
    "PluginLoadError",
    "StrategyConflictError",
    "StrategyError",
    "StrategyManager",
    "UnknownStrategyError",
    "default_manager",
]

log = logging.getLogger("fleeting_openstack.strategies")  # the name operators know (before the move)

ENTRY_POINT_GROUP = "fleeting_openstack.strategies"


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin.

    :param name: entry point name (or the name given to ``register``).
    :param version: its distribution's version, None if unknown.
    :param hooks: the hooks it implements, its strategies' included.
    :param strategies: the strategy names it registered.
    """

    name: str
    version: str | None
    hooks: tuple[str, ...]
    strategies: tuple[str, ...] = ()


class StrategyManager:
    """Loads the strategy plugins and hands out :class:`BoundStrategy` objects."""

    def __init__(self, *, blocked: Iterable[str] = (), trace: bool = False) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        if trace:
            self._pm.add_hookcall_monitoring(hook_trace.before, hook_trace.after)
        self._blocked = frozenset(blocked)
        for name in self._blocked:
            self._pm.set_blocked(name)
        self._registry = Registry(self._blocked)
        self._strategies: dict[str, object] = {}
        self._plugins: dict[str, tuple[object, str | None]] = {}
        self._hooks = PluggyHooks(self._pm, self._strategies)
        # Historic: replayed for every plugin registered from now on.
        self._hooks.register_strategies(self._registry)

    @classmethod
    def load(
        cls,
        entry_point_group: str = ENTRY_POINT_GROUP,
        blocked: Iterable[str] | None = None,
        trace: bool | None = None,
        extra_plugins: Iterable[object] = (),
    ) -> StrategyManager:
        """Load every plugin of ``entry_point_group``, then ``extra_plugins``.

        :param entry_point_group: where plugins are found (built-ins included).
        :param blocked: plugin/strategy names not to load; None: from
            ``FLEETING_OPENSTACK_BLOCK_PLUGINS``.
        :param trace: log every hook call; None: from ``FLEETING_OPENSTACK_TRACE_HOOKS``.
        :param extra_plugins: plugin objects registered after the entry points
            (tests, embedding); named after their ``name`` attribute or class.
        :raises PluginLoadError: a plugin failed to import or register.
        :raises StrategyConflictError: a name is used twice.
        """
        manager = cls(
            blocked=blocked_by_env() if blocked is None else blocked,
            trace=hook_trace.enabled_by_env() if trace is None else trace,
        )
        for ep in _entry_points(entry_point_group):
            if ep.name in manager._blocked:
                log.info("plugin %r is blocked by %s", ep.name, BLOCK_ENV)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"cannot load plugin {ep.name!r} ({ep.value}): {exc}; block it with {BLOCK_ENV}={ep.name}"
                ) from exc
            manager.register(plugin, ep.name, version=ep.dist.version if ep.dist else None)
        for plugin in extra_plugins:
            manager.register(plugin)
        return manager

    def register(self, plugin: object, name: str | None = None, *, version: str | None = None) -> None:
        """Register one more plugin (site plugin and/or strategy provider)."""
        if name is None:
            name = getattr(plugin, "name", None) or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._blocked:
            log.info("plugin %r is blocked by %s", name, BLOCK_ENV)
            return
        if name in self._plugins:
            raise StrategyConflictError(f"a plugin named {name!r} is already registered")
        if version is None:
            version = getattr(plugin, "__version__", None)
        self._pm_register(plugin, name, source=name, what=f"plugin {name!r}")
        self._plugins[name] = (plugin, version)
        while self._registry.pending:  # the strategies it added
            sname, obj, source = self._registry.pending.pop(0)
            self._pm_register(
                obj, STRATEGY_PREFIX + sname, source=source, what=f"strategy {sname!r} of plugin {source!r}"
            )
            self._registry.sources[sname] = source
            self._strategies[sname] = obj

    def _pm_register(self, obj: object, pm_name: str, *, source: str, what: str) -> None:
        """``pm.register`` (which replays the historic registration hook)."""
        self._registry.source = source
        try:
            self._pm.register(obj, pm_name)
            self._pm.check_pending()
        except Exception as exc:
            if self._pm.is_registered(obj):
                self._pm.unregister(obj)
            self._registry.pending.clear()
            if isinstance(exc, StrategyError):
                raise
            if isinstance(exc, pluggy.PluginValidationError):
                raise PluginLoadError(f"{what} does not match the hook specifications: {exc}") from exc
            raise PluginLoadError(f"{what} failed to register: {exc}") from exc
        finally:
            self._registry.source = None

    # -- inspection ---------------------------------------------------------

    def _hook_names(self, plugin: object) -> set[str]:
        return {caller.name for caller in self._pm.get_hookcallers(plugin) or ()}

    def installed(self) -> list[PluginInfo]:
        """Every registered plugin, in registration order."""
        infos = []
        for name, (plugin, version) in self._plugins.items():
            strategies = tuple(s for s, src in self._registry.sources.items() if src == name)
            hooks = self._hook_names(plugin)
            for s in strategies:
                hooks |= self._hook_names(self._strategies[s])
            infos.append(PluginInfo(name, version, tuple(sorted(hooks)), strategies))
        return infos

    def strategy_names(self) -> list[str]:
        """Names of the installed strategies, sorted."""
        return sorted(self._strategies)

    @property
    def blocked(self) -> frozenset[str]:
        """The plugin and ``strategy:NAME`` names this manager did not load."""
        return self._blocked

    def strategy(
        self, name: str, options: StrategyOptions | None = None, user_data: str | None = None
    ) -> BoundStrategy:
        """The strategy ``name``, bound to the operator's ``options`` (and ``user_data``, which
        readiness may read).

        :raises UnknownStrategyError: no such strategy (lists the installed ones).
        """
        if name not in self._strategies:
            installed = ", ".join(self.strategy_names()) or "none"
            blocked = {name, STRATEGY_PREFIX + name} & self._blocked
            hint = f" (blocked by {BLOCK_ENV}={','.join(sorted(blocked))})" if blocked else ""
            raise UnknownStrategyError(f"unknown boot strategy {name!r}{hint}; installed strategies: {installed}")
        return BoundStrategy(self._hooks, name, options or {}, user_data)


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        prior = seen.get(ep.name)
        if prior is not None and prior.value != ep.value:
            raise StrategyConflictError(
                f"entry point {ep.name!r} of group {group!r} is defined twice "
                f"({prior.value} and {ep.value}); block one with {BLOCK_ENV} or uninstall it"
            )
        seen.setdefault(ep.name, ep)
    return [seen[n] for n in sorted(seen)]


_default: dict[tuple[frozenset[str], bool], StrategyManager] = {}
_default_lock = threading.Lock()


def default_manager() -> StrategyManager:
    """The process's one :class:`StrategyManager`: entry points are loaded at the first call only.

    Init, ``validate``, ``render-user-data`` and ``plugins`` all ask for strategies;
    loading the plugins once means one import of each, one set of log lines and
    one answer within a process. The manager is kept per value of
    ``FLEETING_OPENSTACK_BLOCK_PLUGINS`` / ``FLEETING_OPENSTACK_TRACE_HOOKS``
    (they are read at load time), so a changed environment is honoured. A load
    that fails is not kept: the next call tries again.

    :raises PluginLoadError: a plugin failed to import or register.
    :raises StrategyConflictError: a name is used twice.
    """
    key = (frozenset(blocked_by_env()), hook_trace.enabled_by_env())
    with _default_lock:
        manager = _default.get(key)
        if manager is None:
            manager = _default[key] = StrategyManager.load(blocked=key[0], trace=key[1])
        return manager
