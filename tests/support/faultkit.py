"""Helpers of the fault suite (tests/devcloud/test_faults_*.py): a FaultyCloud per test,
fast timeouts, and the leak / duplicate checks every scenario ends with."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from fleeting_openstack.contract.instancegroup import State

#: Bounds the fault suite runs with (short, so the suite stays quick; documented in docs/troubleshooting.md).
FAST = {"api_timeout": "10s", "api_connect_timeout": "2s", "retry_budget": "15s",
        "stale_states_limit": "120s", "create_backoff": "2s"}


def group_servers(admin: Any, group: str) -> list[Any]:
    return [s for s in admin.compute.servers(all_projects=True)
            if s.name.startswith(group + "-") or (s.metadata or {}).get("fleeting-cluster") == group]


def assert_no_duplicates(admin: Any, group: str) -> list[Any]:
    servers = group_servers(admin, group)
    names = [s.name for s in servers]
    assert len(names) == len(set(names)), f"duplicate names: {sorted(names)}"
    requests = [(s.metadata or {}).get("fleeting-request") for s in servers]
    assert len(requests) == len(set(requests)), "one create request made two servers"
    return servers


def assert_no_leaks(admin: Any, group: str, server_ids: set[str] = frozenset(), timeout: float = 90) -> None:
    """No server of the group, no port of its servers, no floating IP naming the group."""
    deadline = time.time() + timeout
    while True:
        servers = group_servers(admin, group)
        ports = [p for p in admin.network.ports() if p.device_id in server_ids] if server_ids else []
        fips = [f for f in admin.network.ips() if (f.description or "").startswith(f"fleeting:{group} ")]
        if not servers and not ports and not fips:
            return
        if time.time() > deadline:
            raise AssertionError(f"leaked: servers {[s.name for s in servers]}, ports {[p.id for p in ports]}, "
                                 f"floating IPs {[f.floating_ip_address for f in fips]}")
        time.sleep(1)


def updates_until(provider: Any, predicate: Any, limit: int, pause: float = 1.0) -> tuple[int, dict]:
    """Call Update until ``predicate(states)``; return (number of Updates, states); fail after ``limit``."""
    states: dict = {}
    for n in range(1, limit + 1):
        states = dict(provider.update())
        if predicate(states):
            return n, states
        time.sleep(pause)
    raise AssertionError(f"not reached within {limit} Updates: {states}")


def settled(provider: Any, timeout: float = 90) -> None:
    """No refresh of the group in flight (one a slow cloud left running after an Update
    answered with the last known states): the next Update starts its own, and waits for it."""
    deadline = time.time() + timeout
    while provider.view.refreshing:
        assert time.time() < deadline, "a refresh of the group is still in flight"
        time.sleep(0.05)


def running(count: int):
    return lambda states: len(states) == count and set(states.values()) == {State.RUNNING}


def empty(states: dict) -> bool:
    return not states


def log_messages(capture: Any, level: str | None = None) -> list[str]:
    return [e["@message"] for e in capture.entries() if level is None or e["@level"] == level]


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture()
def faulty(devcloud: dict, tmp_path: Path) -> Iterator[Any]:
    """The fault-injecting proxy in front of the devcloud (tests/support/faultproxy.py)."""
    from faultproxy import FaultyCloud

    cloud = FaultyCloud(devcloud, tmp_path)
    yield cloud
    cloud.close()


@pytest.fixture()
def fcfg(plugin_config: Callable[..., dict], faulty: Any) -> Callable[..., dict]:
    """A plugin_config that reaches the cloud through ``faulty``, with short timeouts (FAST)."""
    def make(**overrides: Any) -> dict:
        return plugin_config(cloud=faulty.cloud, clouds_config=str(faulty.clouds_yaml), **{**FAST, **overrides})
    return make
