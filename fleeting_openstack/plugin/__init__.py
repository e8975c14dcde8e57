"""The public face for boot-strategy authors: everything a strategy needs, from one import.

A third-party strategy (and every built-in one in ``strategies/``) imports only
this package::

    from fleeting_openstack.plugin import ReadinessResult, UserDataError, hookimpl

What is here: the ``@hookimpl`` marker and the hook specifications
(:mod:`.hookspecs`), the frozen types a hook sees and the errors it may raise
(:mod:`.types`), the ``{{fleeting.*}}`` templating helpers (:mod:`.templating`)
and the names of JSON values (what ``strategy_options`` hold). Importing it loads
no OpenStack code and none of the machinery that calls the hooks: that is the
internal host, :mod:`fleeting_openstack.host` (whose ``StrategyManager`` a
strategy's own tests may load; docs/strategies.md). The submodules are the
implementation; their names may change, these re-exports do not.
"""

from fleeting_openstack.jsontypes import JSONObject, JSONScalar, JSONValue
from fleeting_openstack.plugin import templating
from fleeting_openstack.plugin.hookspecs import PROJECT_NAME, StrategyRegistry, hookimpl, hookspec
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
    StrategyOptions,
    UserDataError,
    is_key_type,
)
from fleeting_openstack.userdata_limit import NOVA_USER_DATA_MAX as MAX_USER_DATA_BASE64

__all__ = [
    "KEY_TYPES",
    "MAX_USER_DATA_BASE64",
    "PROJECT_NAME",
    "ImageInfo",
    "InstanceContext",
    "InstanceCredentials",
    "JSONObject",
    "JSONScalar",
    "JSONValue",
    "KeyType",
    "Observation",
    "ReadinessResult",
    "ReadinessState",
    "StrategyError",
    "StrategyOptions",
    "StrategyRegistry",
    "TemplateError",
    "UserDataError",
    "hookimpl",
    "hookspec",
    "is_key_type",
    "templating",
]
