"""The ignition and flatcar strategies, checked against the real ignition-validate.

Needs the Debian package ``ignition`` (``ignition-validate``). These tests
fail, not skip, when it is missing: CI installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import unquote

import pytest

from fleeting_openstack.plugin.types import ImageInfo, UserDataError
from strategy_kit import KEY, Instance

OLD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorOwnKeyOperatorOwnKeyOperatorOwnKey0 admin"
IMAGE = ImageInfo("img", "flatcar-stable", {"os_version": "3815.2.2"}, os_admin_user=None, os_distro="flatcar")
VERSIONS = ["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0"]


@pytest.fixture(scope="module")
def validator() -> str:
    path = shutil.which("ignition-validate")
    assert path, "ignition-validate is not installed: apt-get install --no-install-recommends ignition"
    return path


@pytest.fixture
def ignition_validate(validator, tmp_path):
    """Run the real ``ignition-validate`` on a config; fail on any error or warning."""

    def run(text: str) -> None:
        path = tmp_path / "config.ign"
        path.write_text(text)
        proc = subprocess.run([validator, str(path)], capture_output=True, text=True)
        if "unsupported config version" in proc.stderr + proc.stdout and '"3.4.0"' in text:
            # Debian 12's Ignition 2.14 knows spec 3.4.0 only as 3.4.0-experimental, the
            # same schema before its stabilisation in Ignition 2.15.
            path.write_text(text.replace('"version":"3.4.0"', '"version":"3.4.0-experimental"'))
            proc = subprocess.run([validator, str(path)], capture_output=True, text=True)
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
            f"ignition-validate rejected:\n{text}\n{proc.stdout}{proc.stderr}"
        )

    return run


render = Instance("runner-2", 2, IMAGE, "core").render_with


def operator_config(version: str) -> dict:
    return {
        "ignition": {"version": version},
        "passwd": {"users": [{"name": "admin", "sshAuthorizedKeys": [OLD_KEY], "groups": ["wheel"]}]},
        "storage": {
            "files": [{"path": "/etc/motd", "mode": 420, "contents": {"source": "data:,worker%20{{fleeting.instance_name}}%0A"}}]
        },
        "systemd": {"units": [{"name": "docker.service", "enabled": True}]},
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_operator_config_keeps_its_version_and_content(manager, ignition_validate, version):
    original = operator_config(version)
    out = render(manager, "ignition", json.dumps(original))
    ignition_validate(out)
    cfg = json.loads(out)
    assert cfg["ignition"]["version"] == version
    assert cfg["passwd"]["users"] == original["passwd"]["users"] + [{"name": "core", "sshAuthorizedKeys": [KEY]}]
    assert cfg["systemd"] == original["systemd"]
    assert cfg["storage"]["files"][0]["contents"]["source"] == "data:,worker%20runner-2%0A"  # templated


def test_empty_user_data_becomes_a_minimal_config(manager, ignition_validate):
    for empty in (None, "", "\n"):
        out = render(manager, "ignition", empty)
        assert json.loads(out) == {
            "ignition": {"version": "3.3.0"},
            "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": [KEY]}]},
        }
    ignition_validate(out)


def test_existing_user_gets_the_key_appended_once(manager, ignition_validate):
    text = json.dumps({"ignition": {"version": "3.3.0"}, "passwd": {"users": [{"name": "core", "sshAuthorizedKeys": [OLD_KEY], "groups": ["docker"]}]}})
    out = render(manager, "ignition", text)
    ignition_validate(out)
    assert json.loads(out)["passwd"]["users"] == [{"name": "core", "sshAuthorizedKeys": [OLD_KEY, KEY], "groups": ["docker"]}]
    assert render(manager, "ignition", out) == out


def test_user_without_keys_gets_the_key(manager, ignition_validate):
    out = render(manager, "ignition", '{"ignition":{"version":"3.2.0"},"passwd":{"users":[{"name":"core"}]}}')
    ignition_validate(out)
    assert json.loads(out)["passwd"]["users"] == [{"name": "core", "sshAuthorizedKeys": [KEY]}]


@pytest.mark.parametrize(
    "user_data, fragment",
    [
        ('{"ignition": {"version": "2.3.0"}, "passwd": {}}', "spec 2.3.0 is not supported"),
        ('{"ignition": {"version": "2.2.0"}}', "spec 3.x"),
        ('{"ignition": {"version": "3.3.0"}, "passwd": {"users": [}', "not valid JSON (Ignition configs are JSON) at line 1"),
        ("#cloud-config\nusers: []\n", "looks like cloud-init user_data"),
        ("[1, 2]", "JSON object"),
        ('{"passwd": {}}', "missing 'ignition.version'"),
        ('{"ignition": {"version": "3.5.0"}}', "'3.5.0' is not supported"),
        ('{"ignition": {"version": "3.3.0"}, "passwd": {"users": {"core": {}}}}', "'passwd.users' must be an array"),
        ('{"ignition": {"version": "3.3.0"}, "passwd": {"users": [{"sshAuthorizedKeys": []}]}}', "string 'name'"),
        ('{"ignition": {"version": "3.3.0"}, "storage": {"files": {}}}', "'storage.files' must be an array"),
    ],
)
@pytest.mark.parametrize("name", ["ignition", "flatcar"])
def test_check_reports_unusable_configs_at_init(manager, name, user_data, fragment):
    errors = manager.strategy(name).check(user_data)
    assert errors and any(fragment in e for e in errors), errors
    with pytest.raises(UserDataError):
        render(manager, name, user_data)


@pytest.mark.parametrize("version", VERSIONS)
def test_check_accepts_supported_versions(manager, version):
    assert manager.strategy("ignition").check(json.dumps(operator_config(version))) == []
    assert manager.strategy("flatcar").check(json.dumps(operator_config(version))) == []


def test_password_cannot_be_injected(manager):
    with pytest.raises(UserDataError, match="passwordHash"):
        render(manager, "ignition", None, key=None, password="secret")


def test_ignition_defaults(manager):
    ignition = manager.strategy("ignition")
    assert ignition.default_username(IMAGE) == "core"
    assert ignition.default_username(ImageInfo("i", os_admin_user="fcos")) == "fcos"
    assert ignition.wants_generated_key is True
    assert ignition.key_type(IMAGE) == "ed25519"
    assert manager.strategy("ignition", {"key_type": "rsa"}).key_type(IMAGE) == "rsa"


# --------------------------------------------------------------------------
# Flatcar
# --------------------------------------------------------------------------


def update_conf(cfg: dict) -> list[dict]:
    return [f for f in cfg.get("storage", {}).get("files", []) if f["path"].endswith("/update.conf")]


def test_flatcar_disables_updates_and_uses_core(manager, ignition_validate):
    strategy = manager.strategy("flatcar")
    username = strategy.default_username(IMAGE)
    assert username == "core"
    out = render(manager, "flatcar", None, username=username)
    ignition_validate(out)
    cfg = json.loads(out)
    assert cfg["passwd"]["users"] == [{"name": "core", "sshAuthorizedKeys": [KEY]}]
    (conf,) = update_conf(cfg)
    assert conf["path"] == "/etc/flatcar/update.conf" and conf["overwrite"] is True and conf["mode"] == 0o644
    assert conf["contents"]["source"].startswith("data:,")
    settings = unquote(conf["contents"]["source"][len("data:,"):])
    assert settings.splitlines() == ["SERVER=disabled", "REBOOT_STRATEGY=off"]


@pytest.mark.parametrize("version", VERSIONS)
def test_flatcar_keeps_operator_config(manager, ignition_validate, version):
    original = operator_config(version)
    out = render(manager, "flatcar", json.dumps(original))
    ignition_validate(out)
    cfg = json.loads(out)
    assert cfg["ignition"]["version"] == version
    assert cfg["storage"]["files"][0] == {"path": "/etc/motd", "mode": 420, "contents": {"source": "data:,worker%20runner-2%0A"}}
    assert len(update_conf(cfg)) == 1
    assert cfg["passwd"]["users"][0] == original["passwd"]["users"][0]


@pytest.mark.parametrize("path", ["/etc/flatcar/update.conf", "/etc/coreos/update.conf"])
def test_flatcar_leaves_operators_update_conf_alone(manager, ignition_validate, path):
    theirs = {"path": path, "overwrite": True, "contents": {"source": "data:,GROUP%3Dbeta%0A"}}
    out = render(manager, "flatcar", json.dumps({"ignition": {"version": "3.3.0"}, "storage": {"files": [theirs]}}))
    ignition_validate(out)
    assert update_conf(json.loads(out)) == [theirs]


def test_flatcar_option_disable_updates(manager, ignition_validate):
    out = render(manager, "flatcar", None, options={"disable_updates": False})
    ignition_validate(out)
    assert update_conf(json.loads(out)) == []
    errors = manager.strategy("flatcar").check(None, {"disable_updates": "no", "colour": 1})
    assert any("'disable_updates' must be true or false" in e for e in errors)
    assert any("'colour' is not known" in e for e in errors)
    assert manager.strategy("ignition").check(None, {"disable_updates": True})  # a flatcar-only option


def test_the_validator_fixture_can_fail(ignition_validate):
    bad = '{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"relative","contents":{"source":"data:,x"}}]}}'
    with pytest.raises(AssertionError, match="path not absolute"):
        ignition_validate(bad)
    with pytest.raises(AssertionError, match="unsupported config version"):
        ignition_validate('{"ignition":{"version":"2.3.0"}}')
