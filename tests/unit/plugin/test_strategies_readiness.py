"""Readiness from console logs: realistic boot logs in tests/fixtures/consoles."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleeting_openstack.plugin.types import Observation, ReadinessState

READY, WAITING, FAILED = ReadinessState.READY, ReadinessState.WAITING, ReadinessState.FAILED
CONSOLES = Path(__file__).parents[2] / "fixtures" / "consoles"

# fixture -> {strategy: (state, words the reason must contain)}
EXPECTED = {
    "ubuntu-22.04.log": {"cloud-init": (READY, "23.4.4-0ubuntu0~22.04.1"), "flatcar": (WAITING, "login prompt")},
    "ubuntu-24.04.log": {"cloud-init": (READY, "24.1.3-0ubuntu3.3"), "ignition": (WAITING, "")},
    "debian-12.log": {"cloud-init": (READY, "22.4.2"), "flatcar": (WAITING, "")},
    "fedora-40.log": {"cloud-init": (READY, "24.1.4-1.fc40"), "ignition": (WAITING, "")},
    "rocky-9.log": {"cloud-init": (READY, "DataSourceOpenStackLocal")},
    "ubuntu-22.04-cloud-init-running.log": {"cloud-init": (WAITING, "finished")},
    "ubuntu-24.04-cloud-init-failed.log": {"cloud-init": (FAILED, "scripts_user")},
    "debian-12-no-datasource.log": {"cloud-init": (FAILED, "DataSourceNone")},
    "flatcar.log": {"flatcar": (READY, "scaling-runner-1"), "ignition": (READY, ""), "cloud-init": (WAITING, "")},
    "fedora-coreos-40.log": {"ignition": (READY, "runner-9"), "flatcar": (READY, "")},
    "flatcar-no-login-prompt.log": {"flatcar": (WAITING, "login prompt")},
    "flatcar-ignition-failed.log": {"flatcar": (FAILED, "Ignition failed"), "ignition": (FAILED, "")},
}


def console(name: str) -> str:
    return (CONSOLES / name).read_bytes().decode()  # keep \r\n and escapes as the console had them


def tail(text: str, lines: int = 100) -> str:
    """What the provider reads: the last lines of the console log."""
    return "".join(text.splitlines(keepends=True)[-lines:])


def test_every_fixture_is_covered():
    assert sorted(p.name for p in CONSOLES.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize(
    "fixture, strategy, state, words",
    [(f, s, st, w) for f, cases in EXPECTED.items() for s, (st, w) in cases.items()],
)
def test_console_fixtures(manager, fixture, strategy, state, words):
    result = manager.strategy(strategy).readiness(Observation("ACTIVE", 40.0, 600.0, tail(console(fixture))))
    assert result.state is state, result.reason
    assert words in result.reason


def test_fixtures_keep_their_serial_console_bytes():
    assert "\r\n" in console("flatcar.log") and "\x1b[0;32m" in console("flatcar.log")
    assert "\r\n" in console("ubuntu-24.04.log")


@pytest.mark.parametrize(
    "line",
    [
        "Cloud-init v. 23.4.4-0ubuntu0~22.04.1 finished at Wed, 10 Jan 2024 09:12:45 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds",
        "Cloud-init v. 22.4.2 finished at Mon, 10 Jun 2024 08:41:17 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 18.61 seconds",
        "[   25.123456] cloud-init[1234]: Cloud-init v. 24.1.4-1.fc40 finished at Mon, 10 Jun 2024 10:02:34 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.11 seconds",
        "cloud-init[1188]: Cloud-init v. 23.4-7.el9_4.0.1 finished at Mon, 10 Jun 2024 11:30:30 +0000. Datasource DataSourceConfigDrive [net,ver=2][source=/dev/sr0].  Up 30.10 seconds",
        "<14>Jun 10 11:30:30 cloud-init: Cloud-init v. 0.7.9 finished at Thu, 01 Jun 2017 10:00:00 +0000. Datasource DataSourceOpenStack [net,ver=2].  Up 45.60 seconds",
        "\x1b[0mCloud-init v. 18.5-45.el8 finished at Tue, 02 Jan 2024 10:00:00 +0000. Datasource DataSourceOpenStack [net,ver=2].  Up 19.20 seconds\r",
    ],
)
def test_cloud_init_finished_line_variants(manager, line):
    text = f"boot...\r\nCloud-init v. 1 running 'modules:final' at X. Up 1 seconds.\r\n{line}\r\n"
    assert manager.strategy("cloud-init").readiness(Observation("ACTIVE", 30, 600, text)).state is READY


def test_cloud_init_running_is_waiting_even_with_a_login_prompt(manager):
    text = "Cloud-init v. 24.1 running 'modules:config' at X. Up 9 seconds.\n\nUbuntu 24.04 LTS runner ttyS0\n\nrunner login: "
    result = manager.strategy("cloud-init").readiness(Observation("ACTIVE", 30, 600, text))
    assert result.state is WAITING and "age 30s" in result.reason


@pytest.mark.parametrize("strategy", ["cloud-init", "ignition", "flatcar"])
def test_without_boot_time_active_is_ready(manager, strategy):
    for tail_text in (None, "still booting"):
        result = manager.strategy(strategy).readiness(Observation("ACTIVE", 3, None, tail_text))
        assert result.state is READY and "boot_time" in result.reason


@pytest.mark.parametrize("strategy", ["cloud-init", "ignition", "flatcar"])
def test_unreadable_console_is_waiting(manager, strategy):
    result = manager.strategy(strategy).readiness(Observation("ACTIVE", 3, 600, None))
    assert result.state is WAITING and "console log not available" in result.reason


def test_marker_seen_is_reported_whatever_the_age(manager):
    """boot_time expiry is the provider's policy: past it, WAITING is still WAITING."""
    result = manager.strategy("flatcar").readiness(Observation("ACTIVE", 9999, 600, "SSH host key: SHA256:x (RSA)\n"))
    assert result.state is WAITING


@pytest.mark.parametrize(
    "text, state",
    [
        ("SSH host key: SHA256:abc (ED25519)\r\r\nnode-1 login: ", READY),
        ("SSH host key: SHA256:abc (ECDSA)\rnode-1 login: core (automatic login)\r", READY),
        ("SSH host key: SHA256:abc (RSA)\n\x1b[H\x1b[2Jnode-1.example.org login:", READY),
        ("node-1 login: \nSSH host key: SHA256:abc (ED25519)\n", WAITING),  # prompt before keys
        ("SSH host key: SHA256:abc (ED25519)\nLast login: Wed Jan 10 on ttyS0\n", WAITING),
        ("SSH host key: (ED25519)\nnode-1 login: ", WAITING),  # no fingerprint
        ("node-1 login: ", WAITING),
        ("[FAILED] Failed to start ignition-fetch.service - Ignition (fetch).\n", FAILED),
        ("Entering emergency mode. Exit the shell to continue.\n", FAILED),
    ],
)
def test_login_prompt_marker(manager, text, state):
    assert manager.strategy("flatcar").readiness(Observation("ACTIVE", 30, 600, text)).state is state
