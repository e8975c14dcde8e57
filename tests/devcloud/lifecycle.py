"""Driving the OpenStack provider in devcloud tests: start it, wait for states.

Shared by tests/devcloud/test_provider_devcloud.py, test_commands.py and test_heat.py.
"""
from __future__ import annotations

import json
import time

from fleeting_openstack.contract.instancegroup import ConnectorConfig, Settings, State
from fleeting_openstack.provider.group import OpenStackProvider
from fleeting_openstack.transport import hclog


def start(cfg: dict, connector: ConnectorConfig | None = None) -> OpenStackProvider:
    """An OpenStackProvider after Init with ``cfg`` (a plugin_config dict); its ``log_level``
    applied as in plugin mode."""
    provider = OpenStackProvider(set_log_level=hclog.set_level)
    provider.init(json.dumps(cfg).encode(), Settings(connector or ConnectorConfig()))
    return provider


def wait_states(provider: OpenStackProvider, want: set[State], count: int, timeout: float = 60) -> dict:
    """Poll Update until ``count`` servers are all in ``want``; return {id: state}."""
    deadline = time.time() + timeout
    states: dict = {}
    while time.time() < deadline:
        states = dict(provider.update())
        if len(states) == count and set(states.values()) <= want:
            return states
        time.sleep(1)
    raise AssertionError(f"states after {timeout}s: {states}, want {count} in {want}")


def wait_gone(provider: OpenStackProvider, timeout: float = 60) -> None:
    """Poll Update until the group is empty."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not provider.update():
            return
        time.sleep(1)
    raise AssertionError(f"group not empty: {provider.update()}")
