"""The public face for boot-strategy authors: everything a strategy needs, from one import.

A third-party strategy (and every built-in one in ``strategies/``) imports only
this package::

    from fleeting_openstack.plugin import ReadinessResult, UserDataError, hookimpl

What is here: the ``@hookimpl`` marker and the registry protocol
(:mod:`.hookspecs`), the frozen types a hook sees and the errors it may raise
(:mod:`.types`), the ``{{fleeting.*}}`` templating helpers (:mod:`.templating`),
and, for a strategy's own tests, the manager that loads strategies
(:mod:`.manager`). The submodules are the implementation; their names may
change, these re-exports do not.
"""

from fleeting_openstack.plugin import templating
from fleeting_openstack.plugin.bound import MAX_USER_DATA_BASE64, BoundStrategy
from fleeting_openstack.plugin.hookspecs import PROJECT_NAME, StrategyRegistry, hookimpl, hookspec
from fleeting_openstack.plugin.manager import (
    BLOCK_ENV,
    ENTRY_POINT_GROUP,
    TRACE_ENV,
    PluginInfo,
    StrategyManager,
    default_manager,
)
from fleeting_openstack.plugin.registry import PluginLoadError, StrategyConflictError, UnknownStrategyError
from fleeting_openstack.plugin.templating import TemplateError
from fleeting_openstack.plugin.types import (
    KEY_TYPES,
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    ReadinessState,
    StrategyError,
    UserDataError,
    is_key_type,
)

__all__ = [
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "KEY_TYPES",
    "MAX_USER_DATA_BASE64",
    "PROJECT_NAME",
    "TRACE_ENV",
    "BoundStrategy",
    "ImageInfo",
    "InstanceContext",
    "InstanceCredentials",
    "KeyType",
    "Observation",
    "PluginInfo",
    "PluginLoadError",
    "ReadinessResult",
    "ReadinessState",
    "StrategyConflictError",
    "StrategyError",
    "StrategyManager",
    "StrategyRegistry",
    "TemplateError",
    "UnknownStrategyError",
    "UserDataError",
    "default_manager",
    "hookimpl",
    "hookspec",
    "is_key_type",
    "templating",
]
