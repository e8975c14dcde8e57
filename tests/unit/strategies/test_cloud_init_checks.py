"""The cloud-init strategy without cloud-init: its Init checks, defaults and the cases where it
leaves the operator's user_data alone (what the real cloud-init makes of the output:
tests/validators/test_strategies_cloud_init.py)."""

from __future__ import annotations

import pytest
import yaml

from cloud_init_samples import (  # noqa: F401 - strategy: the fixture
    OPERATOR_CONFIG, SCRIPT, cloud_config_parts, operator_multipart, render, strategy)
from fleeting_openstack.plugin.types import ImageInfo
from strategy_kit import KEY


def test_static_keypair_leaves_user_data_alone(strategy):
    assert render(strategy, OPERATOR_CONFIG, key=None) == OPERATOR_CONFIG
    assert render(strategy, None, key=None) == "#cloud-config\n"


@pytest.mark.parametrize(
    "user_data, fragment",
    [
        ("#cloud-config\npackages: [a\nusers: x\n", "invalid YAML at line"),
        ("#cloud-config\n- just\n- a list\n", "must be a mapping"),
        ("#cloud-config\nusers: 5\n", "'users' must be"),
        ("hello world\n", "cloud-init does not recognise"),
        ("#cloud-config\nfinal_message: 'done at $TIMESTAMP.'\n", "sub-key"),  # cloud-init prints nothing
        ("#cloud-config\nfinal_message: 'done in $SECONDS'\n", "knows no value 'SECONDS'"),
        (operator_multipart(("cloud-config", "#cloud-config\nusers: [a\n")), "MIME part 1"),
        # the login user's keys are neither a list nor a string (the trial render's user is sample-user)
        ("#cloud-config\nusers:\n  - name: sample-user\n    ssh_authorized_keys: 5\n", "must be a list or a string"),
    ],
)
def test_check_reports_unusable_user_data(strategy, user_data, fragment):
    errors = strategy.check(user_data)
    assert errors and any(fragment in e for e in errors), errors


@pytest.mark.parametrize(
    "user_data",
    [None, "", OPERATOR_CONFIG, SCRIPT, "#cloud-config\nfinal_message: 'Cloud-init v. {{version}} finished at {{timestamp}}. ok'\n",
     "#cloud-config\nfinal_message: booted\n",  # an operator's own final_message (issue 20)
     operator_multipart(("cloud-config", OPERATOR_CONFIG), ("x-shellscript", SCRIPT)), "#cloud-boothook\n#!/bin/sh\necho hi\n"],
)
def test_check_accepts_usable_user_data(strategy, user_data):
    assert strategy.check(user_data) == []


def test_check_rejects_unknown_options_and_bad_key_type(manager):
    errors = manager.strategy("cloud-init").check(None, {"key_typ": "rsa", "key_type": "dsa"})
    assert any("'key_typ' is not known" in e and "key_type" in e for e in errors)
    assert any("'key_type' must be one of" in e for e in errors)
    assert manager.strategy("cloud-init", {"key_type": "rsa"}).check(None) == []


def test_default_username(strategy):
    assert strategy.default_username(ImageInfo("i", os_admin_user="admin", os_distro="ubuntu")) == "admin"
    assert strategy.default_username(ImageInfo("i", os_distro="debian")) == "debian"
    assert strategy.default_username(ImageInfo("i", os_distro="rhel")) == "cloud-user"
    assert strategy.default_username(ImageInfo("i", os_distro="plan9")) is None
    assert strategy.wants_generated_key is True


def test_jinja_template_declaring_users_gets_no_extra_default(strategy):
    text = "## template: jinja\n#cloud-config\nusers:\n- name: {{ v1.local_hostname }}\n"
    ours = cloud_config_parts(render(strategy, text))[-1]
    assert yaml.safe_load(ours)["users"] == [{"name": "runner", "ssh_authorized_keys": [KEY]}]
