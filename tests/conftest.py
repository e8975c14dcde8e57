"""Shared fixtures. Tests that need the devcloud FAIL when it is not running
(start it with tests/devcloud/start; scripts/test does): they never skip."""

from __future__ import annotations

import copy
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The plugin is imported from where it is installed (scripts/test: .venv, not
# this source tree); only the devcloud helpers come from tests/.
sys.path.append(str(ROOT / "tests"))
sys.path.append(str(ROOT / "tests" / "support"))

from devcloud.fixtures import DevcloudNotRunning, clouds_yaml_path, load_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def devcloud() -> dict[str, Any]:
    try:
        fx = load_fixtures()
        fx["clouds_yaml"] = str(clouds_yaml_path())
    except DevcloudNotRunning as exc:
        pytest.fail(f"the devcloud is required: {exc}")
    return fx


def _connect(devcloud: dict[str, Any], cloud: str):
    import openstack
    import openstack.config

    region = openstack.config.OpenStackConfig(config_files=[devcloud["clouds_yaml"]]).get_one(cloud=cloud)
    return openstack.connection.Connection(config=region)


@pytest.fixture(scope="session")
def admin(devcloud):
    """An admin connection, to look at what the plugin did (and clean up)."""
    conn = _connect(devcloud, "devcloud")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def demo(devcloud):
    """A connection as the demo user (the project the plugin's tests use)."""
    conn = _connect(devcloud, "devcloud-demo")
    yield conn
    conn.close()


@pytest.fixture()
def group_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def plugin_config(devcloud, group_name, tmp_path) -> Callable[..., dict[str, Any]]:
    """A devcloud plugin_config for a fresh group; keyword arguments override keys."""

    def make(**overrides: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "cloud": "devcloud-demo",
            "clouds_config": devcloud["clouds_yaml"],
            "name": group_name,
            "credentials": {"state_dir": str(tmp_path / "state")},
            "server_spec": {
                "name": f"{group_name}-%d",
                "imageRef": devcloud["images"]["tiny-raw"],
                "flavorRef": devcloud["flavors"]["m1.tiny"],
                "networks": [{"uuid": devcloud["networks"]["workers"]}],
                "security_groups": [devcloud["security_group"]["name"]],
                "scheduler_hints": {"group": devcloud["server_group"]["id"]},
            },
        }
        for key, value in overrides.items():
            if key == "server_spec":
                cfg["server_spec"].update(value)
            else:
                cfg[key] = value
        return copy.deepcopy(cfg)

    return make


@pytest.fixture()
def cleanup_group(admin, group_name) -> Iterator[None]:
    """Delete whatever the test's group left in the cloud, and fail if anything was left."""
    yield
    leftovers = [s for s in admin.compute.servers(all_projects=True)
                 if s.name.startswith(group_name) or (s.metadata or {}).get("fleeting-cluster") == group_name]
    for server in leftovers:
        admin.compute.delete_server(server.id, ignore_missing=True)
    for server in leftovers:
        admin.compute.wait_for_delete(server, wait=60)


class LogCapture(logging.Handler):
    """Every formatted hclog line the plugin code emitted."""

    def __init__(self) -> None:
        super().__init__(level=1)
        from fleeting_openstack.transport.hclog import HclogFormatter

        self.setFormatter(HclogFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture()
def plugin_logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(1)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)
