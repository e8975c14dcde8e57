"""The ignition and flatcar strategies without ignition-validate: their Init checks, the
password they refuse, their defaults (what ignition-validate makes of their output:
tests/validators/test_strategies_ignition.py)."""

from __future__ import annotations

import json

import pytest

from fleeting_openstack.plugin.types import ImageInfo, UserDataError
from ignition_samples import IMAGE, VERSIONS, operator_config, render


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


def test_the_parts_the_strategy_edits_are_made_when_absent_and_refused_when_of_another_type():
    from fleeting_openstack_strategies.ignition import array_at, object_at

    cfg: dict = {"passwd": []}
    assert object_at(cfg, "storage") == {} and cfg["storage"] == {}
    assert array_at(cfg["storage"], "files") == [] and cfg["storage"] == {"files": []}
    with pytest.raises(UserDataError, match="'passwd' must be an object"):
        object_at(cfg, "passwd")
    with pytest.raises(UserDataError, match="'storage' must be an array"):
        array_at(cfg, "storage")
