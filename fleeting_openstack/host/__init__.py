"""The strategy host (internal): loads the boot-strategy plugins and calls their hooks for the provider.

Strategy authors import :mod:`fleeting_openstack.plugin` (the public face); the
provider and the commands import this package. It may import the face, config
and the leaf modules, never the OpenStack adapter, the provider or the CLI.

The pieces: :mod:`.manager` (:class:`StrategyManager`: entry points, blocking,
what is installed), :mod:`.registry` (strategy names and the load errors),
:mod:`.hooks` (one typed method per hook: the only code that calls pluggy's
hooks), :mod:`.bound` (:class:`BoundStrategy`: check, render, readiness),
:mod:`.trace` (hook tracing without secrets) and :mod:`.render` (the user_data
of one instance, shared by Increase and ``render-user-data``).
"""

from fleeting_openstack.host.bound import MAX_USER_DATA_BASE64, BoundStrategy, check_key
from fleeting_openstack.host.hooks import PluggyHooks, StrategyHooks
from fleeting_openstack.host.manager import ENTRY_POINT_GROUP, PluginInfo, StrategyManager, default_manager
from fleeting_openstack.host.registry import (
    BLOCK_ENV,
    PluginLoadError,
    StrategyConflictError,
    UnknownStrategyError,
)
from fleeting_openstack.host.trace import TRACE_ENV
from fleeting_openstack.plugin.types import StrategyError

__all__ = [
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "MAX_USER_DATA_BASE64",
    "TRACE_ENV",
    "BoundStrategy",
    "PluggyHooks",
    "PluginInfo",
    "PluginLoadError",
    "StrategyConflictError",
    "StrategyError",
    "StrategyHooks",
    "StrategyManager",
    "UnknownStrategyError",
    "check_key",
    "default_manager",
]
