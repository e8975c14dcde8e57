"""The hooks as typed methods: the one place that calls pluggy, so nothing else names a hook by a string.

:class:`StrategyHooks` is what a :class:`~fleeting_openstack.host.bound.BoundStrategy`
calls: one method per hook of :mod:`fleeting_openstack.plugin.hookspecs`, each
restricted to the site plugins plus the selected strategy, each returning a
checked value (what a plugin returned is not checked by pluggy: a wrong type
is a :class:`StrategyError` naming the strategy and the hook).
:class:`PluggyHooks` implements it over a ``pluggy.PluginManager``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import pluggy

from fleeting_openstack.plugin.hookspecs import StrategyRegistry
from fleeting_openstack.plugin.types import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    StrategyError,
    StrategyOptions,
    is_key_type,
)

__all__ = ["PluggyHooks", "StrategyHooks"]


class StrategyHooks(Protocol):
    """Every per-instance hook, called for the strategy ``selected`` (and the site plugins)."""

    def check_config(self, selected: str, *, user_data: str | None, options: StrategyOptions) -> list[str]:
        """``fleeting_check_config``: every plugin's messages, in one list."""

    def default_username(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> str | None:
        """``fleeting_default_username``: the login user, None for no opinion."""

    def wants_generated_key(self, selected: str, *, options: StrategyOptions) -> bool | None:
        """``fleeting_wants_generated_key``: None for no opinion."""

    def key_type(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> KeyType | None:
        """``fleeting_key_type``: None for no opinion."""

    def build_user_data(self, selected: str, *, ctx: InstanceContext) -> str | None:
        """``fleeting_build_user_data``: the base document, None for no opinion."""

    def customize_user_data(self, selected: str, *, ctx: InstanceContext, user_data: str | None) -> str | None:
        """``fleeting_customize_user_data``, chained: each implementation gets the previous one's output."""

    def inject_credentials(
        self, selected: str, *, ctx: InstanceContext, user_data: str | None, credentials: InstanceCredentials
    ) -> str | None:
        """``fleeting_inject_credentials``: the final user_data, None to leave it unchanged."""

    def readiness(
        self, selected: str, *, observation: Observation, options: StrategyOptions, user_data: str | None
    ) -> ReadinessResult | None:
        """``fleeting_readiness``: the decision, None for no opinion."""


def _optional_str(answer: object, who: str, hook: str) -> str | None:
    if answer is None or isinstance(answer, str):
        return answer
    raise StrategyError(f"{who} returned {type(answer).__name__} from {hook}, not text")


class PluggyHooks:
    """:class:`StrategyHooks` over a plugin manager whose strategy objects are ``strategies``.

    :param pm: the plugin manager with :mod:`~fleeting_openstack.plugin.hookspecs` added.
    :param strategies: strategy name -> strategy object (read at each call: strategies
        registered later take part).
    """

    def __init__(self, pm: pluggy.PluginManager, strategies: Mapping[str, object]) -> None:
        self._pm = pm
        self._strategies = strategies

    def _only(self, caller: pluggy.HookCaller, selected: str) -> pluggy.HookCaller:
        """``caller`` restricted to site plugins plus the selected strategy."""
        others = [obj for n, obj in self._strategies.items() if n != selected]
        return self._pm.subset_hook_caller(caller.name, remove_plugins=others)

    def register_strategies(self, registry: StrategyRegistry) -> None:
        """``fleeting_register_strategies``, historic: replayed for every plugin registered later."""
        self._pm.hook.fleeting_register_strategies.call_historic(kwargs={"registry": registry})

    def check_config(self, selected: str, *, user_data: str | None, options: StrategyOptions) -> list[str]:
        caller = self._pm.hook.fleeting_check_config
        answers: list[object] = self._only(caller, selected)(user_data=user_data, options=options, strategy=selected)
        errors: list[str] = []
        for found in answers:  # not firstresult: one list (or None) per plugin
            if not found:
                continue
            if isinstance(found, str) or not isinstance(found, Iterable):
                raise StrategyError(f"a plugin returned {found!r} from {caller.name}, not a list of messages")
            errors.extend(str(message) for message in found)
        return errors

    def default_username(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> str | None:
        caller = self._pm.hook.fleeting_default_username
        answer: object = self._only(caller, selected)(image=image, options=options, strategy=selected)
        return _optional_str(answer, f"strategy {selected!r}", caller.name)

    def wants_generated_key(self, selected: str, *, options: StrategyOptions) -> bool | None:
        caller = self._pm.hook.fleeting_wants_generated_key
        answer: object = self._only(caller, selected)(options=options, strategy=selected)
        return None if answer is None else bool(answer)

    def key_type(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> KeyType | None:
        caller = self._pm.hook.fleeting_key_type
        answer: object = self._only(caller, selected)(image=image, options=options, strategy=selected)
        if answer is None or is_key_type(answer):
            return answer
        raise StrategyError(f"strategy {selected!r} asked for unsupported key type {answer!r}")

    def build_user_data(self, selected: str, *, ctx: InstanceContext) -> str | None:
        caller = self._pm.hook.fleeting_build_user_data
        answer: object = self._only(caller, selected)(ctx=ctx, strategy=selected)
        return _optional_str(answer, f"strategy {selected!r}", caller.name)

    def customize_user_data(self, selected: str, *, ctx: InstanceContext, user_data: str | None) -> str | None:
        caller = self._only(self._pm.hook.fleeting_customize_user_data, selected)
        value = user_data
        plugins = self._pm.get_plugins()
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order
            if impl.hookwrapper or impl.wrapper:
                continue
            one = self._pm.subset_hook_caller(caller.name, remove_plugins=[p for p in plugins if p is not impl.plugin])
            result: list[object] = one(ctx=ctx, user_data=value, strategy=selected)
            if result and result[0] is not None:
                value = _optional_str(result[0], f"plugin {impl.plugin_name!r}", caller.name)
        return value

    def inject_credentials(
        self, selected: str, *, ctx: InstanceContext, user_data: str | None, credentials: InstanceCredentials
    ) -> str | None:
        caller = self._pm.hook.fleeting_inject_credentials
        answer: object = self._only(caller, selected)(
            ctx=ctx, user_data=user_data, credentials=credentials, strategy=selected
        )
        return _optional_str(answer, f"strategy {selected!r}", caller.name)

    def readiness(
        self, selected: str, *, observation: Observation, options: StrategyOptions, user_data: str | None
    ) -> ReadinessResult | None:
        caller = self._pm.hook.fleeting_readiness
        answer: object = self._only(caller, selected)(
            observation=observation, options=options, strategy=selected, user_data=user_data
        )
        if answer is None or isinstance(answer, ReadinessResult):
            return answer
        raise StrategyError(f"strategy {selected!r} returned {answer!r} from {caller.name}")
