"""The unit tier: openstacksdk's deprecations are errors here.

Only the plugin's OpenStack adapter calls the SDK in this tier, so any SDK
deprecation a unit test meets is one the plugin's code triggers (a ``find_*``
with ``ignore_missing``, an SDK resource built: ``_compute_attributes``) and
would break on the SDK's next major. Two are raised by openstacksdk 4 on every
connection whatever its caller does, and are left alone: the InfluxDB notice
(its config loader always hands CloudRegion an influxdb section) and the
``service_type`` argument its own Proxy.request passes to ``_extract_name``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent

SDK_DEPRECATIONS_ARE_ERRORS = pytest.mark.filterwarnings(
    "error::DeprecationWarning:openstack.*",  # OpenStackDeprecationWarning and its kinds
    "error::PendingDeprecationWarning:openstack.*",  # RemovedInSDK50Warning, RemovedInSDK60Warning
    "ignore:Support for InfluxDB requires the influxdb library:PendingDeprecationWarning:openstack.config.cloud_region",
    "ignore:The 'service_type' parameter is unnecesary:PendingDeprecationWarning:openstack.proxy",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT in item.path.parents:
            item.add_marker(SDK_DEPRECATIONS_ARE_ERRORS)
