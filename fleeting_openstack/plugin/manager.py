"""The typed facade over the boot-strategy plugins.

The provider uses only this module (and :mod:`.strategy_types`); it never
touches pluggy. Typical use::

    manager = StrategyManager.load()               # entry points, env vars
    for info in manager.installed():                # log what is installed
        log.info("plugin %s %s: %s", info.name, info.version, info.hooks)
    strategy = manager.strategy("cloud-init", options)   # UnknownStrategyError
    errors = strategy.check(user_data)              # at Init, all errors at once
    user_data = strategy.render_user_data(ctx, credentials)   # at Increase
    result = strategy.readiness(observation)        # at Update

Environment:

* ``FLEETING_OPENSTACK_TRACE_HOOKS=1`` logs every hook call, its arguments and
  its result through the logger ``fleeting_openstack.strategies`` at DEBUG.
  Private-key blocks, the operator's password and long texts are redacted.
* ``FLEETING_OPENSTACK_BLOCK_PLUGINS=name1,name2`` blocks plugins by name: a
  plain name is an entry point (``flatcar``, ``acme``), ``strategy:NAME`` is
  one strategy whichever plugin registers it. Built-in entry points are named
  after their strategy, so ``cloud-init`` disables the built-in one (and lets
  a third-party strategy of that name take its place); ``strategy:acme-os``
  disables one of the several strategies a package may register.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.metadata
import logging
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pluggy

from fleeting_openstack.openstack.nova import NOVA_USER_DATA_MAX, RENDERED, UserDataTooLarge, check_user_data_size
from fleeting_openstack.plugin import hookspecs
from fleeting_openstack.plugin import templating
from fleeting_openstack.plugin.types import (
    KEY_TYPES,
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    StrategyError,
    UserDataError,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "BLOCK_ENV",
    "MAX_USER_DATA_BASE64",
    "PluginInfo",
    "StrategyManager",
    "BoundStrategy",
    "UnknownStrategyError",
    "StrategyConflictError",
    "PluginLoadError",
]

log = logging.getLogger("fleeting_openstack.strategies")  # the name operators know (before the move)

ENTRY_POINT_GROUP = "fleeting_openstack.strategies"
TRACE_ENV = "FLEETING_OPENSTACK_TRACE_HOOKS"
BLOCK_ENV = "FLEETING_OPENSTACK_BLOCK_PLUGINS"
#: Nova refuses user_data whose base64 form is longer than this (the limit lives in openstack/nova.py).
MAX_USER_DATA_BASE64 = NOVA_USER_DATA_MAX

_STRATEGY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_STRATEGY_PREFIX = "strategy:"
# A syntactically valid public key for the trial render in check().
_SAMPLE_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMFleetingOpenstackSampleKeyForChecks0000 fleeting-check"
)


class UnknownStrategyError(StrategyError, ValueError):
    """No strategy of that name is installed (the message lists those that are)."""


class StrategyConflictError(StrategyError):
    """Two plugins register the same strategy name (or entry point name)."""


class PluginLoadError(StrategyError):
    """A plugin could not be imported or registered."""


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


# --------------------------------------------------------------------------
# Tracing (never logs private keys or the password)
# --------------------------------------------------------------------------

_PRIVATE_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
_TRACE_MAX = 2000
# Secret strings of the call in progress (the operator's password).
_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "fleeting_openstack_secrets", default=()
)


def redact(value: Any) -> str:
    """``repr(value)`` with private keys and in-flight secrets removed, shortened."""
    text = value if isinstance(value, str) else repr(value)
    text = _PRIVATE_BLOCK.sub("<redacted private key>", text)
    for secret in _secrets.get():
        # as is, escaped inside a repr, and as YAML's single-quoted style writes it
        for form in {secret, repr(secret)[1:-1], secret.replace("'", "''")}:
            text = text.replace(form, "<redacted>")
    if len(text) > _TRACE_MAX:
        text = f"{text[:_TRACE_MAX]}...<{len(text) - _TRACE_MAX} more chars>"
    return text if not isinstance(value, str) else repr(text)


@contextlib.contextmanager
def _hiding(*secrets: str | None) -> Iterator[None]:
    token = _secrets.set(_secrets.get() + tuple(s for s in secrets if s))
    try:
        yield
    finally:
        _secrets.reset(token)


def _trace_before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    args = ", ".join(f"{k}={redact(v)}" for k, v in kwargs.items())
    impls = ", ".join(i.plugin_name for i in hook_impls)
    log.debug("hook %s(%s) -> [%s]", hook_name, args, impls)


def _trace_after(outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    if outcome.exception is not None:
        log.debug("hook %s raised %s", hook_name, redact(outcome.exception))
    else:
        log.debug("hook %s returned %s", hook_name, redact(outcome.get_result()))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


# --------------------------------------------------------------------------
# Registry and manager
# --------------------------------------------------------------------------


class _Registry:
    """The object handed to ``fleeting_register_strategies``."""

    def __init__(self, blocked: frozenset[str]) -> None:
        self._blocked = blocked
        self._source: str | None = None  # plugin being registered
        self.pending: list[tuple[str, object, str]] = []
        self.sources: dict[str, str] = {}  # strategy name -> plugin name

    def add(self, name: str, strategy: object) -> None:
        source = self._source or "?"
        if not isinstance(name, str) or not _STRATEGY_NAME.fullmatch(name):
            raise PluginLoadError(
                f"plugin {source!r} registers an invalid strategy name {name!r} "
                "(lower-case letters, digits, '.', '_', '-')"
            )
        if isinstance(strategy, type):
            raise PluginLoadError(
                f"plugin {source!r} registers strategy {name!r} as a class; pass an instance"
            )
        if _STRATEGY_PREFIX + name in self._blocked:
            log.info("strategy %r (from plugin %r) is blocked by %s", name, source, BLOCK_ENV)
            return
        taken = self.sources.get(name) or next((s for n, _, s in self.pending if n == name), None)
        if taken is not None:
            raise StrategyConflictError(
                f"strategy {name!r} is registered by both plugin {taken!r} and plugin {source!r}; "
                f"block one of the plugins with {BLOCK_ENV}=<plugin name>"
            )
        self.pending.append((name, strategy, source))


class StrategyManager:
    """Loads the strategy plugins and hands out :class:`BoundStrategy` objects."""

    def __init__(self, *, blocked: Iterable[str] = (), trace: bool = False) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        if trace:
            self._pm.add_hookcall_monitoring(_trace_before, _trace_after)
        self._blocked = frozenset(blocked)
        for name in self._blocked:
            self._pm.set_blocked(name)
        self._registry = _Registry(self._blocked)
        self._strategies: dict[str, object] = {}
        self._plugins: dict[str, tuple[object, str | None]] = {}
        # Historic: replayed for every plugin registered from now on.
        self._pm.hook.fleeting_register_strategies.call_historic(kwargs={"registry": self._registry})

    @classmethod
    def load(
        cls,
        entry_point_group: str = ENTRY_POINT_GROUP,
        blocked: Iterable[str] | None = None,
        trace: bool | None = None,
        extra_plugins: Iterable[object] = (),
    ) -> "StrategyManager":
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
            blocked=_env_list(BLOCK_ENV) if blocked is None else blocked,
            trace=_env_flag(TRACE_ENV) if trace is None else trace,
        )
        for ep in _entry_points(entry_point_group):
            if ep.name in manager._blocked:
                log.info("plugin %r is blocked by %s", ep.name, BLOCK_ENV)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginLoadError(
                    f"cannot load plugin {ep.name!r} ({ep.value}): {exc}; "
                    f"block it with {BLOCK_ENV}={ep.name}"
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
            self._pm_register(obj, _STRATEGY_PREFIX + sname, source=source, what=f"strategy {sname!r} of plugin {source!r}")
            self._registry.sources[sname] = source
            self._strategies[sname] = obj

    def _pm_register(self, obj: object, pm_name: str, *, source: str, what: str) -> None:
        """``pm.register`` (which replays the historic registration hook)."""
        self._registry._source = source
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
            self._registry._source = None

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
        return self._blocked

    def strategy(self, name: str, options: Mapping[str, Any] | None = None) -> "BoundStrategy":
        """The strategy ``name``, bound to the operator's ``options``.

        :raises UnknownStrategyError: no such strategy (lists the installed ones).
        """
        if name not in self._strategies:
            installed = ", ".join(self.strategy_names()) or "none"
            blocked = {name, _STRATEGY_PREFIX + name} & self._blocked
            hint = f" (blocked by {BLOCK_ENV}={','.join(sorted(blocked))})" if blocked else ""
            raise UnknownStrategyError(
                f"unknown boot strategy {name!r}{hint}; installed strategies: {installed}"
            )
        return BoundStrategy(self, name, options or {})

    # -- hook calling (used by BoundStrategy) -------------------------------

    def _caller(self, hook: str, selected: str) -> Any:
        """``hook`` restricted to site plugins plus the selected strategy."""
        others = [obj for n, obj in self._strategies.items() if n != selected]
        return self._pm.subset_hook_caller(hook, remove_plugins=others)

    def _chain(self, hook: str, selected: str, value_arg: str, **kwargs: Any) -> Any:
        """Call every impl of ``hook`` one at a time, feeding each the previous result."""
        caller = self._caller(hook, selected)
        value = kwargs.pop(value_arg)
        plugins = self._pm.get_plugins()
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order
            if impl.hookwrapper or impl.wrapper:
                continue
            only = self._pm.subset_hook_caller(hook, remove_plugins=[p for p in plugins if p is not impl.plugin])
            result = only(**kwargs, **{value_arg: value})
            if result:
                value = result[0]
        return value


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


class BoundStrategy:
    """One strategy, bound to the operator's options: what the provider calls."""

    def __init__(self, manager: StrategyManager, name: str, options: Mapping[str, Any]) -> None:
        self._manager = manager
        self.name = name
        self.options: Mapping[str, Any] = options

    def __repr__(self) -> str:
        return f"BoundStrategy({self.name!r})"

    def _call(self, hook: str, **kwargs: Any) -> Any:
        return self._manager._caller(hook, self.name)(strategy=self.name, **kwargs)

    # -- Init -----------------------------------------------------------------

    def check(self, user_data: str | None, options: Mapping[str, Any] | None = None) -> list[str]:
        """Every configuration error of ``user_data`` and ``options`` (empty: fine).

        Checks the ``{{fleeting.*}}`` placeholders, asks every plugin
        (``fleeting_check_config``), and, if that found nothing, performs a
        trial render with sample values so that a user_data the strategy
        cannot process fails here rather than at the first create.
        """
        opts = self.options if options is None else options
        if not isinstance(opts, Mapping):
            return [f"strategy options must be a table, got {type(opts).__name__}"]
        if user_data is not None and not isinstance(user_data, str):
            return [f"user_data must be a string, got {type(user_data).__name__}"]
        errors = templating.find_errors(user_data)
        sample = templating.render(user_data, templating.SAMPLE_VALUES, strict=False) if user_data else user_data
        for found in self._call("fleeting_check_config", user_data=sample, options=opts):
            errors.extend(found or ())
        if errors:
            return errors
        ctx = InstanceContext(
            name=templating.SAMPLE_VALUES["instance_name"],
            group=templating.SAMPLE_VALUES["group"],
            index=0,
            cloud=templating.SAMPLE_VALUES["cloud"],
            region=templating.SAMPLE_VALUES["region"],
            image=ImageInfo(id="sample-image"),
            user_data=user_data,
            username=templating.SAMPLE_VALUES["username"],
            options=opts,
        )
        try:
            self.render_user_data(ctx, InstanceCredentials(ctx.username, _SAMPLE_PUBLIC_KEY))
        except UserDataError as exc:
            errors.append(str(exc))
        return errors

    def default_username(self, image: ImageInfo) -> str | None:
        """The login user to use when the connector sets none (None: unknown)."""
        return self._call("fleeting_default_username", image=image, options=self.options)

    @property
    def wants_generated_key(self) -> bool:
        """True: generate a per-instance key; False: static credentials required."""
        answer = self._call("fleeting_wants_generated_key", options=self.options)
        return True if answer is None else bool(answer)

    def key_type(self, image: ImageInfo) -> KeyType:
        """``"ed25519"`` (default) or ``"rsa"``."""
        answer = self._call("fleeting_key_type", image=image, options=self.options)
        if answer is None:
            return "ed25519"
        if answer not in KEY_TYPES:
            raise StrategyError(f"strategy {self.name!r} asked for unsupported key type {answer!r}")
        return answer  # type: ignore[return-value]

    # -- Increase ---------------------------------------------------------------

    def render_user_data(self, ctx: InstanceContext, credentials: InstanceCredentials) -> str | None:
        """The user_data to create ``ctx``'s server with (None: no user_data).

        Order: templating, base build (``fleeting_build_user_data``), site
        customisation (``fleeting_customize_user_data``, chained), credential
        injection (``fleeting_inject_credentials``).

        :raises UserDataError: the user_data cannot be produced (bad
            placeholder, unusable operator content, result too large for Nova).
        """
        with _hiding(credentials.password):
            text = ctx.user_data
            if text is not None:
                text = templating.render(text, templating.values_for(ctx))
            ctx = replace(ctx, user_data=text)
            base = self._call("fleeting_build_user_data", ctx=ctx)
            if base is not None:
                text = base
            text = self._manager._chain(
                "fleeting_customize_user_data", self.name, "user_data", ctx=ctx, user_data=text, strategy=self.name
            )
            injected = self._call("fleeting_inject_credentials", ctx=ctx, user_data=text, credentials=credentials)
            if injected is not None:
                text = injected
        if text is not None and not isinstance(text, str):
            raise StrategyError(f"strategy {self.name!r} produced user_data of type {type(text).__name__}")
        if text is not None:
            try:  # the one size check of each create (openstack/nova.py); create_request trusts it
                check_user_data_size(text, RENDERED)
            except UserDataTooLarge as exc:
                raise UserDataError(
                    f"user_data is {exc.size} bytes in base64, more than Nova's limit of {MAX_USER_DATA_BASE64}"
                ) from None
        return text

    # -- Update -------------------------------------------------------------------

    def readiness(self, observation: Observation) -> ReadinessResult:
        """Whether the server has booted, from what the cloud shows.

        Non-ACTIVE servers are answered here (ERROR: FAILED, others: WAITING);
        for ACTIVE ones the strategy reads the console. WAITING means "marker
        not seen"; applying ``boot_time`` is the provider's job.
        """
        status = (observation.status or "").upper()
        if status == "ERROR":
            return ReadinessResult.failed("server status is ERROR")
        if status != "ACTIVE":
            return ReadinessResult.waiting(f"server status is {status or 'unknown'}")
        result = self._call("fleeting_readiness", observation=observation, options=self.options)
        if result is None:
            return ReadinessResult.ready(f"strategy {self.name!r} has no boot marker; ACTIVE is ready")
        if not isinstance(result, ReadinessResult):
            raise StrategyError(f"strategy {self.name!r} returned {result!r} from fleeting_readiness")
        return result
