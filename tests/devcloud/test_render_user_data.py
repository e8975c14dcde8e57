"""`render-user-data`: the user_data Nova would receive, for every built-in strategy, checked by
the real validators (cloud-init's schema, ignition-validate), and compared with what the
plugin really sends Nova on the devcloud."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from installed import plugin_executable

PLUGIN_BIN = plugin_executable()
IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
KEY = re.compile(r"ssh-(ed25519|rsa) AAAA[0-9A-Za-z+/=]+")

CLOUD_CONFIG = "#cloud-config\nhostname: {{fleeting.instance_name}}\nwrite_files:\n" \
               "  - path: /etc/fleeting-group\n    content: \"{{fleeting.group}} {{fleeting.index}}\"\n"
IGNITION = json.dumps({"ignition": {"version": "3.3.0"}, "storage": {"files": [
    {"path": "/etc/fleeting-group", "contents": {"source": "data:,{{fleeting.group}}"}}]}})


def toml(strategy: str, user_data: str | None, *, username: str = "core", extra: str = "") -> str:
    lines = ['[[runners]]', 'name = "r"', 'executor = "docker-autoscaler"', "[runners.autoscaler]",
             'plugin = "fleeting-plugin-openstack"', "[runners.autoscaler.plugin_config]",
             'name = "grp"', f'strategy = "{strategy}"', extra,
             "[runners.autoscaler.plugin_config.server_spec]", 'name = "grp-w%d"',
             f'imageRef = "{IMAGE}"', 'flavorRef = "f"', 'networks = "none"']
    if user_data is not None:
        lines.append(f"user_data = {json.dumps(user_data)}")
    lines += ["[runners.autoscaler.connector_config]", f'username = "{username}"']
    return "\n".join(lines) + "\n"


def render(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return subprocess.run([PLUGIN_BIN, "render-user-data", str(path), *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def cloud_init_schema(tmp_path):
    binary = shutil.which("cloud-init")
    assert binary, "cloud-init is not installed (scripts/test installs it)"

    def check(text: str) -> None:
        path = tmp_path / "user-data"
        path.write_text(text)
        done = subprocess.run([binary, "schema", "--config-file", str(path)], capture_output=True, text=True)
        assert done.returncode == 0 and "Valid cloud-config" in done.stdout, text + done.stdout + done.stderr

    return check


@pytest.fixture
def ignition_validate(tmp_path):
    binary = shutil.which("ignition-validate")
    assert binary, "ignition-validate is not installed (scripts/test installs it)"

    def check(text: str) -> None:
        path = tmp_path / "config.ign"
        path.write_text(text)
        done = subprocess.run([binary, str(path)], capture_output=True, text=True)
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), text + done.stdout + done.stderr

    return check


def test_cloud_init(tmp_path, cloud_init_schema):
    # --instance-name is a name of the group's template; its number is the index (issue 20)
    done = render(tmp_path, toml("cloud-init", CLOUD_CONFIG, username="debian"), "--instance-name", "grp-w7")
    assert done.returncode == 0, done.stderr
    cloud_init_schema(done.stdout)
    assert "hostname: grp-w7" in done.stdout and "grp 7" in done.stdout  # templating applied
    assert "name: debian" in done.stdout and KEY.search(done.stdout)
    assert "throwaway" in done.stderr and "{{" not in done.stdout


@pytest.mark.parametrize("strategy", ["ignition", "flatcar"])
def test_ignition_and_flatcar(tmp_path, ignition_validate, strategy):
    for user_data in (None, IGNITION):
        done = render(tmp_path, toml(strategy, user_data))
        assert done.returncode == 0, done.stderr
        ignition_validate(done.stdout)
        config = json.loads(done.stdout)
        users = config["passwd"]["users"]
        assert users[0]["name"] == "core" and KEY.match(users[0]["sshAuthorizedKeys"][0])
        if user_data:
            assert config["storage"]["files"][0]["contents"]["source"] == "data:,grp"


def test_custom_is_the_operators_text_templated(tmp_path, cloud_init_schema):
    text = toml("custom", CLOUD_CONFIG).replace('username = "core"', 'username = "core"\nuse_static_credentials = true\n'
                                                'password = "pw"')
    done = render(tmp_path, text)
    assert done.returncode == 0, done.stderr
    cloud_init_schema(done.stdout)
    assert done.stdout == CLOUD_CONFIG.replace("{{fleeting.instance_name}}", "grp-w1").replace(
        "{{fleeting.group}} {{fleeting.index}}", "grp 1")
    assert not KEY.search(done.stdout)


def test_errors_and_nothing_on_stdout(tmp_path):
    done = render(tmp_path, toml("ignition", "#cloud-config\n"))
    assert done.returncode == 1 and done.stdout == "" and "not valid JSON" in done.stderr
    done = render(tmp_path, toml("cloud-init", "#cloud-config\nx: {{fleeting.nope}}\n"))
    assert done.returncode == 1 and done.stdout == "" and "fleeting.nope" in done.stderr
    done = render(tmp_path, toml("cloud-init", None), "--runner", "other")
    assert done.returncode == 2 and done.stdout == ""


def test_the_preview_is_what_nova_receives(plugin_config, admin, tmp_path, cleanup_group):
    """Create a server through the provider and read back from Nova the user_data it got."""
    from devcloud.lifecycle import start

    cfg = plugin_config(strategy="cloud-init", server_spec={"user_data": CLOUD_CONFIG})
    pc = tmp_path / "pc.json"
    pc.write_text(json.dumps(cfg))
    provider = start(cfg)
    try:
        provider.increase(1)
        (server_id,) = [s.id for s in provider.members()]
        server = admin.compute.get(f"/servers/{server_id}", microversion="2.79").json()["server"]
        received = base64.b64decode(server["OS-EXT-SRV-ATTR:user_data"]).decode()
        name = server["name"]
        done = subprocess.run([PLUGIN_BIN, "render-user-data", str(pc), "--check-cloud", "--instance-name", name],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert KEY.sub("KEY", done.stdout) == KEY.sub("KEY", received)
        assert done.stdout != KEY.sub("KEY", done.stdout)  # there is a key, and only the key differs
    finally:
        provider.decrease([s.id for s in provider.members()])
        provider.close()
