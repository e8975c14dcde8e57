"""Deprecated import path, kept so third-party strategies written before 0.2 keep loading.

Everything a strategy needs is now imported from :mod:`fleeting_openstack.plugin`
(docs/strategies.md). This module re-exports that public face with a DeprecationWarning;
it will be removed in a later release (CHANGELOG.md).
"""

import warnings

from fleeting_openstack.plugin import *  # noqa: F403 - the whole public face, as before
from fleeting_openstack.plugin import __all__  # noqa: F401 - what the star import brings

warnings.warn(
    "fleeting_openstack.strategies is deprecated: import from fleeting_openstack.plugin",
    DeprecationWarning,
    stacklevel=2,
)
