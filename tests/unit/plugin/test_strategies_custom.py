"""The custom strategy: operator's user_data untouched, static credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleeting_openstack.plugin.types import ImageInfo, Observation, ReadinessState
from strategy_kit import Instance

CONSOLES = Path(__file__).parents[2] / "fixtures" / "consoles"


render = Instance("win-1", 1, ImageInfo("img"), "Administrator").render_with


@pytest.mark.parametrize(
    "user_data",
    [
        None,
        "",
        "#cloud-config\n# comments survive\nusers: []\n",
        "#ps1_sysnative\nWrite-Host 'hello'\r\n",
        '{"ignition": {"version": "2.2.0"}}',  # not ours to judge
        "Content-Type: multipart/mixed; boundary=x\nMIME-Version: 1.0\n\n--x\n\nfoo\n--x--\n",
        "anything at all ${VAR} {{ v1.instance_id }}",
    ],
)
def test_user_data_passes_through_untouched(manager, user_data):
    assert render(manager, "custom", user_data) == user_data
    assert render(manager, "custom", user_data, password="secret") == user_data
    assert manager.strategy("custom").check(user_data) == []


def test_placeholders_are_still_replaced(manager):
    assert render(manager, "custom", "#!/bin/sh\nhostname {{fleeting.instance_name}}\n") == "#!/bin/sh\nhostname win-1\n"
    assert manager.strategy("custom").check("{{fleeting.oops}}")


def test_static_credentials(manager):
    custom = manager.strategy("custom")
    assert custom.wants_generated_key is False
    assert custom.default_username(ImageInfo("i", os_admin_user="Administrator")) == "Administrator"
    assert custom.default_username(ImageInfo("i", os_distro="ubuntu")) is None


@pytest.mark.parametrize(
    "option, fixture, state",
    [
        ({}, "ubuntu-22.04-cloud-init-running.log", ReadinessState.READY),
        ({"readiness": "none"}, "flatcar-no-login-prompt.log", ReadinessState.READY),
        ({"readiness": "cloud-init"}, "ubuntu-22.04-cloud-init-running.log", ReadinessState.WAITING),
        ({"readiness": "cloud-init"}, "debian-12.log", ReadinessState.READY),
        ({"readiness": "login-prompt"}, "flatcar-no-login-prompt.log", ReadinessState.WAITING),
        ({"readiness": "login-prompt"}, "flatcar.log", ReadinessState.READY),
    ],
)
def test_readiness_option(manager, option, fixture, state):
    text = (CONSOLES / fixture).read_bytes().decode()
    assert manager.strategy("custom", option).readiness(Observation("ACTIVE", 20, 600, text)).state is state


def test_check_options(manager):
    errors = manager.strategy("custom").check(None, {"readiness": "ping", "key_type": "rsa"})
    assert any("'readiness' must be one of" in e for e in errors)
    assert any("'key_type' is not known" in e for e in errors)  # no generated key, so no key type
