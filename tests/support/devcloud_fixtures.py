"""The devcloud's pytest fixtures (a plugin of tests/conftest.py), for every tier that
runs against the real cloud: tests/devcloud, tests/e2e, tests/conformance, tests/packaging.

Tests that need the devcloud FAIL when it is not running (start it with
tests/devcloud/start; scripts/test does): they never skip. The devcloud tooling
(tests/devcloud, imported as the ``devcloud`` package) is imported only when a test
asks for one of these fixtures, so collecting the unit tier imports none of it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from openstack.connection import Connection


@pytest.fixture(scope="session")
def devcloud() -> dict[str, Any]:
    """fixtures.json of the running devcloud (ids of images, flavors, networks...), plus its clouds.yaml path."""
    from devcloud.fixtures import DevcloudNotRunning, clouds_yaml_path, load_fixtures

    try:
        fx = load_fixtures()
        fx["clouds_yaml"] = str(clouds_yaml_path())
    except DevcloudNotRunning as exc:
        pytest.fail(f"the devcloud is required: {exc}")
    return fx


def _connect(devcloud: dict[str, Any], cloud: str) -> Connection:
    import openstack.config

    region = openstack.config.OpenStackConfig(config_files=[devcloud["clouds_yaml"]]).get_one(cloud=cloud)
    return Connection(config=region)


@pytest.fixture(scope="session")
def admin(devcloud: dict[str, Any]) -> Iterator[Connection]:
    """An admin connection, to look at what the plugin did (and clean up)."""
    conn = _connect(devcloud, "devcloud")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def demo(devcloud: dict[str, Any]) -> Iterator[Connection]:
    """A connection as the demo user (the project the plugin's tests use)."""
    conn = _connect(devcloud, "devcloud-demo")
    yield conn
    conn.close()


@pytest.fixture()
def plugin_config(devcloud: dict[str, Any], group_name: str, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """A devcloud plugin_config for a fresh group; keyword arguments override keys
    (``server_spec`` is merged into the server_spec)."""
    from devcloud.fixtures import plugin_config as group_config

    def make(**overrides: Any) -> dict[str, Any]:
        cfg = group_config(devcloud, name=group_name, clouds_config=devcloud["clouds_yaml"],
                           state_dir=str(tmp_path / "state"))
        for key, value in overrides.items():
            if key == "server_spec":
                cfg["server_spec"].update(value)
            else:
                cfg[key] = value
        return copy.deepcopy(cfg)

    return make


@pytest.fixture()
def cleanup_group(admin: Connection, group_name: str) -> Iterator[None]:
    """Delete whatever the test's group left in the cloud, and fail if anything was left."""
    yield
    leftovers = [s for s in admin.compute.servers(all_projects=True)
                 if s.name.startswith(group_name) or (s.metadata or {}).get("fleeting-cluster") == group_name]
    for server in leftovers:
        admin.compute.delete_server(server.id, ignore_missing=True)
    for server in leftovers:
        admin.compute.wait_for_delete(server, wait=60)
