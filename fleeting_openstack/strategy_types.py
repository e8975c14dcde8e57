"""Deprecated import path (0.1), kept so third-party strategies written for 0.1 keep loading until 0.3.0.

Everything a strategy needs is now imported from :mod:`fleeting_openstack.plugin`
(docs/strategies.md). This module re-exports that public face with a DeprecationWarning
naming the new path; it is removed in 0.3.0 (CHANGELOG.md).
"""

import warnings

from fleeting_openstack.plugin import *  # noqa: F403 - the whole public face, as before
from fleeting_openstack.plugin import __all__  # noqa: F401 - what the star import brings

warnings.warn(
    "fleeting_openstack.strategy_types is deprecated and will be removed in 0.3.0: "
    "import from fleeting_openstack.plugin",
    DeprecationWarning,
    stacklevel=2,
)
