"""Where the tests find the devcloud (no pytest, no openstacksdk needed).

    from tests.devcloud.fixtures import clouds_yaml_path, load_fixtures
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds_yaml_path())
    fx = load_fixtures()
    fx["images"]["tiny-raw"], fx["networks"]["workers"], fx["keypair"]["private_key"]

Both read $DEVCLOUD_STATE (default /var/tmp/fleeting-devcloud), the state
directory that tests/devcloud/start fills; see docs/devcloud.md for the keys
of fixtures.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_STATE = "/var/tmp/fleeting-devcloud"


class DevcloudNotRunning(RuntimeError):
    """The state directory has no clouds.yaml/fixtures.json: run start."""


def state_dir() -> Path:
    return Path(os.environ.get("DEVCLOUD_STATE") or DEFAULT_STATE)


def clouds_yaml_path() -> Path:
    """Path of the devcloud's clouds.yaml (clouds devcloud, devcloud-demo,
    devcloud-appcred); raises DevcloudNotRunning if it is missing."""
    path = state_dir() / "clouds.yaml"
    if not path.is_file():
        raise DevcloudNotRunning(f"{path} not found: run tests/devcloud/start")
    return path


def load_fixtures() -> dict[str, Any]:
    """The parsed fixtures.json (IDs of images, flavors, networks, ...)."""
    path = state_dir() / "fixtures.json"
    try:
        with path.open() as f:
            return json.load(f)
    except FileNotFoundError:
        raise DevcloudNotRunning(
            f"{path} not found: run tests/devcloud/start") from None


def plugin_config(fx: dict[str, Any], *, name: str, clouds_config: str, state_dir: str) -> dict[str, Any]:
    """The plugin_config the tests run a group ``name`` with: project demo, the
    tiny image and flavor, the workers network, the fixtures' security group and
    server group. ``clouds_config``/``state_dir`` are paths as the plugin sees them."""
    return {
        "cloud": "devcloud-demo",
        "clouds_config": clouds_config,
        "name": name,
        "credentials": {"state_dir": state_dir},
        "server_spec": {
            "name": f"{name}-%d",
            "imageRef": fx["images"]["tiny-raw"],
            "flavorRef": fx["flavors"]["m1.tiny"],
            "networks": [{"uuid": fx["networks"]["workers"]}],
            "security_groups": [fx["security_group"]["name"]],
            "scheduler_hints": {"group": fx["server_group"]["id"]},
        },
    }
