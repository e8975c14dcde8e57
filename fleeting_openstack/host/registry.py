"""Strategy names: the registry plugins add their strategies to, blocking, and the host's load errors.

``fleeting_register_strategies(registry)`` receives a :class:`Registry`. It
checks each name (syntax, uniqueness across plugins, ``strategy:NAME`` blocks
from ``FLEETING_OPENSTACK_BLOCK_PLUGINS``) and keeps the strategies until the
manager registers them with pluggy.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from fleeting_openstack.plugin.types import StrategyError

__all__ = [
    "BLOCK_ENV",
    "STRATEGY_PREFIX",
    "PluginLoadError",
    "Registry",
    "StrategyConflictError",
    "UnknownStrategyError",
    "blocked_by_env",
]

log = logging.getLogger("fleeting_openstack.strategies")  # the name operators know (before the move)

BLOCK_ENV = "FLEETING_OPENSTACK_BLOCK_PLUGINS"
#: A blocked name with this prefix blocks one strategy, whichever plugin registers it.
STRATEGY_PREFIX = "strategy:"

_STRATEGY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class UnknownStrategyError(StrategyError, ValueError):
    """No strategy of that name is installed (the message lists those that are)."""


class StrategyConflictError(StrategyError):
    """Two plugins register the same strategy name (or entry point name)."""


class PluginLoadError(StrategyError):
    """A plugin could not be imported or registered."""


def blocked_by_env() -> list[str]:
    """The names listed in ``FLEETING_OPENSTACK_BLOCK_PLUGINS`` (comma-separated)."""
    return [p.strip() for p in os.environ.get(BLOCK_ENV, "").split(",") if p.strip()]


class Registry:
    """The object handed to ``fleeting_register_strategies`` (see ``hookspecs.StrategyRegistry``).

    :param blocked: plugin names and ``strategy:NAME`` entries not to load.
    """

    def __init__(self, blocked: Iterable[str]) -> None:
        self._blocked = frozenset(blocked)
        #: the plugin being registered (set by the manager around ``pm.register``)
        self.source: str | None = None
        #: (strategy name, strategy object, plugin name) added but not yet registered
        self.pending: list[tuple[str, object, str]] = []
        #: strategy name -> the plugin that registered it
        self.sources: dict[str, str] = {}

    def add(self, name: str, strategy: object) -> None:
        """Add ``strategy`` (an object with ``@hookimpl`` methods) as ``name``."""
        source = self.source or "?"
        if not isinstance(name, str) or not _STRATEGY_NAME.fullmatch(name):
            raise PluginLoadError(
                f"plugin {source!r} registers an invalid strategy name {name!r} "
                "(lower-case letters, digits, '.', '_', '-')"
            )
        if isinstance(strategy, type):
            raise PluginLoadError(f"plugin {source!r} registers strategy {name!r} as a class; pass an instance")
        if STRATEGY_PREFIX + name in self._blocked:
            log.info("strategy %r (from plugin %r) is blocked by %s", name, source, BLOCK_ENV)
            return
        taken = self.sources.get(name) or next((s for n, _, s in self.pending if n == name), None)
        if taken is not None:
            raise StrategyConflictError(
                f"strategy {name!r} is registered by both plugin {taken!r} and plugin {source!r}; "
                f"block one of the plugins with {BLOCK_ENV}=<plugin name>"
            )
        self.pending.append((name, strategy, source))
