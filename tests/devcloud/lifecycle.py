"""Driving the OpenStack provider in devcloud tests: start it, wait for states.

Shared by tests/devcloud/test_provider_devcloud.py, test_commands.py and test_heat.py.
"""
from __future__ import annotations

import json
import time

from fleeting_openstack.config import PluginConfig
from fleeting_openstack.contract.instancegroup import ConnectorConfig, Settings, State
from fleeting_openstack.openstack.client import Cloud, NovaCall
from fleeting_openstack.provider import initchecks
from fleeting_openstack.provider.collaborators import InitCheckRunner
from fleeting_openstack.provider.group import OpenStackProvider


def start(cfg: dict, connector: ConnectorConfig | None = None, *,
          nova_calls: list[NovaCall] | None = None) -> OpenStackProvider:
    """An OpenStackProvider after Init with ``cfg`` (a plugin_config dict). ``nova_calls``:
    every answered Nova call of the provider's cloud is appended to it (Cloud.observe_nova)."""
    provider = OpenStackProvider(checks=None if nova_calls is None else observed_checks(nova_calls))
    provider.init(json.dumps(cfg).encode(), Settings(connector or ConnectorConfig()))
    return provider


def observed_checks(nova_calls: list[NovaCall]) -> InitCheckRunner:
    """Init's own checks, whose cloud tells ``nova_calls`` of every answered Nova call."""

    def run(cfg: PluginConfig, connector: ConnectorConfig, *, keys: str = "open") -> initchecks.InitChecks:
        checks = initchecks.run(cfg, connector, keys=keys)
        if checks.cloud is not None:  # None: Init failed (checks.fatal), and says so
            assert isinstance(checks.cloud, Cloud), type(checks.cloud)  # Init connected the real adapter
            checks.cloud.observe_nova(nova_calls.append)
        return checks

    return run


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
