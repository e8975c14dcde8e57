"""openstack/lightsdk.py: the adapter connects with openstacksdk's config loader and
discovery, not the whole SDK, and clouds.yaml / ``OS_*`` handling stays the SDK's.

Each case runs in a fresh interpreter (what is imported is the point) against the
project's Keystone + Nova stand-in (bench/novastub.py), and checks each assumption
lightsdk's docstring names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from project import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import novastub  # noqa: E402


@pytest.fixture()
def stand_in(tmp_path):
    server, world = novastub.serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    (tmp_path / "clouds.yaml").write_text(novastub.clouds_yaml(port))
    yield port
    server.shutdown()
    server.server_close()


PROBE = r"""
import json, sys
from fleeting_openstack.openstack.client import Cloud
def unrun(name):
    module = sys.modules[name]
    return type(module).__name__ == "_Deferred" and not module.__dict__.get("_fleeting_ran")
cloud = Cloud.connect(sys.argv[1] or None, sys.argv[2] or None, "2.79", timeout=10)
servers = list(cloud.list_servers({}))
sent = {
    "project": cloud.project_id,
    "region": cloud.region,
    "services": sorted(cloud.service_types()),
    "servers": len(servers),
    "connection_loaded": "openstack.connection" in sys.modules,
    "compute_proxy_loaded": "openstack.compute.v2._proxy" in sys.modules,
    "charset_normalizer_ran": not unrun("charset_normalizer"),
    "jmespath_ran": not unrun("jmespath"),
    "prometheus_loaded": "prometheus_client" in sys.modules,
}
# the package stays whole for anyone else in the process
import openstack
sent["connect_callable"] = callable(openstack.connect)
sent["connection_after"] = "openstack.connection" in sys.modules
import charset_normalizer
sent["detect"] = charset_normalizer.detect(b"plain ascii")["encoding"]
import requests
sent["apparent"] = requests.models.Response.apparent_encoding.fget(type("R", (), {"content": b"abc"})())
print(json.dumps(sent))
"""


def probe(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path)  # no ~/.config/openstack/clouds.yaml of the machine's
    return env


def test_clouds_yaml_connects_without_the_rest_of_the_sdk(stand_in, tmp_path):
    got = probe(["stub", str(tmp_path / "clouds.yaml")], clean_env(tmp_path))
    assert got["servers"] == 0 and got["project"] and got["region"] == "RegionOne"
    assert {"compute", "network", "image", "identity"} <= set(got["services"])
    assert got["connection_loaded"] is False and got["compute_proxy_loaded"] is False
    assert got["charset_normalizer_ran"] is False and got["jmespath_ran"] is False
    assert got["prometheus_loaded"] is False
    # and the deferred modules are whole once used
    assert got["connect_callable"] is True and got["connection_after"] is True
    assert got["detect"] == "ascii" and got["apparent"] == "ascii"


def test_os_environment_connects_as_openstack_connect_did(stand_in, tmp_path):
    env = clean_env(tmp_path)
    env.update(
        OS_AUTH_URL=f"http://127.0.0.1:{stand_in}/identity/v3",
        OS_USERNAME="bench",
        OS_PASSWORD="bench",
        OS_PROJECT_NAME="bench",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_REGION_NAME="RegionOne",
        OS_AUTH_TYPE="v3password",
    )
    got = probe(["", ""], env)
    assert got["region"] == "RegionOne" and got["project"] and got["servers"] == 0
    assert got["connection_loaded"] is False


def test_clouds_yaml_on_the_search_path(stand_in, tmp_path):
    """No clouds_config: the SDK's own search path (OS_CLIENT_CONFIG_FILE here) finds the cloud."""
    env = clean_env(tmp_path)
    env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "clouds.yaml")
    got = probe(["stub", ""], env)
    assert got["region"] == "RegionOne" and got["connection_loaded"] is False


def test_unknown_cloud_names_the_defined_ones(stand_in, tmp_path):
    env = clean_env(tmp_path)
    env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "clouds.yaml")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "nope", ""], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "cloud configuration" in done.stderr and "stub" in done.stderr
