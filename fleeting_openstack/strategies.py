"""Deprecated import path (0.1), kept so third-party strategies written for 0.1 keep loading until 0.3.0.

Everything a strategy needs is now imported from :mod:`fleeting_openstack.plugin`
(docs/strategies.md); the manager a strategy's own tests load is
:class:`fleeting_openstack.host.StrategyManager`. This module re-exports both, as
0.1's ``fleeting_openstack.strategies`` had them, with a DeprecationWarning naming
the new paths; it is removed in 0.3.0 (CHANGELOG.md).
"""

import warnings

from fleeting_openstack.host import (
    BLOCK_ENV,
    ENTRY_POINT_GROUP,
    TRACE_ENV,
    BoundStrategy,
    PluginInfo,
    PluginLoadError,
    StrategyConflictError,
    StrategyManager,
    UnknownStrategyError,
)
from fleeting_openstack.plugin import *  # noqa: F403 - the whole public face, as before
from fleeting_openstack.plugin import __all__ as _FACE

__all__ = [
    *_FACE,
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "BoundStrategy",
    "PluginInfo",
    "PluginLoadError",
    "StrategyConflictError",
    "StrategyManager",
    "UnknownStrategyError",
]

warnings.warn(
    "fleeting_openstack.strategies is deprecated and will be removed in 0.3.0: import from "
    "fleeting_openstack.plugin (a strategy's tests: StrategyManager from fleeting_openstack.host)",
    DeprecationWarning,
    stacklevel=2,
)
