"""An operator's cloud-init ``final_message`` (issue 20 item 6): accepted, and readiness waits for
the operator's own final line, cloud-init's $UPTIME, $TIMESTAMP, $VERSION and $DATASOURCE matched
as the values cloud-init prints (rendered by the real cloud-init: tests/validators/
test_final_message_cloud_init.py; booted by it: tests/e2e/test_final_message_e2e.py)."""

from __future__ import annotations

import pytest

from cloud_init_samples import operator_multipart, strategy  # noqa: F401 - strategy: the fixture
from fleeting_openstack.plugin.types import Observation, ReadinessState
from strategy_kit import load_manager

MESSAGE = "fleeting ready: up $UPTIME s, cloud-init $VERSION, $DATASOURCE at ${TIMESTAMP}"
USER_DATA = f"#cloud-config\nfinal_message: '{MESSAGE}'\n"
#: what cloud-init 22.4.2 prints for MESSAGE (the validators tier renders it with cloud-init itself)
PRINTED = ("fleeting ready: up 25.36 s, cloud-init 22.4.2, DataSourceNoCloud [seed=/dev/vdb][dsmode=net] "
           "at Wed, 10 Jan 2024 12:00:00 +0000")
DEFAULT_LINE = ("Cloud-init v. 22.4.2 finished at Wed, 10 Jan 2024 12:00:00 +0000. Datasource "
                "DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 25.36 seconds")


def observe(console: str) -> Observation:
    return Observation(status="ACTIVE", age_seconds=30, boot_time_seconds=600, console_tail=console)


def bound(user_data: str | None, name: str = "cloud-init", **options):
    return load_manager().strategy(name, options, user_data)


def test_an_operators_final_message_is_accepted(strategy):
    assert strategy.check(USER_DATA) == []


def test_readiness_waits_for_the_operators_line():
    s = bound(USER_DATA)
    booting = "[  OK  ] Started ssh.service\nci-info: +++ Authorized keys +++\n"
    assert s.readiness(observe(booting)).state is ReadinessState.WAITING
    assert "the operator's final_message" in s.readiness(observe(booting)).reason
    # with a final_message, cloud-init does not print its default line; the operator's line is the sign
    ready = s.readiness(observe(booting + f"[   25.4] cloud-init[812]: {PRINTED}\n"))
    assert ready.state is ReadinessState.READY and "fleeting ready" in ready.reason
    # the default line alone is not the operator's line
    assert s.readiness(observe(booting + DEFAULT_LINE + "\n")).state is ReadinessState.WAITING


def test_values_are_matched_as_cloud_init_prints_them():
    s = bound(USER_DATA)
    for wrong in (PRINTED.replace("25.36", "soon"), PRINTED.replace("22.4.2", "22 4"),
                  PRINTED.replace("fleeting ready", "fleeting steady")):
        assert s.readiness(observe(wrong + "\n")).state is ReadinessState.WAITING, wrong
    none = PRINTED.replace("DataSourceNoCloud [seed=/dev/vdb][dsmode=net]", "DataSourceNone")
    failed = s.readiness(observe(none + "\n"))
    assert failed.state is ReadinessState.FAILED and "DataSourceNone" in failed.reason


def test_without_a_final_message_the_default_line_counts():
    s = bound("#cloud-config\nhostname: x\n")
    assert s.readiness(observe(DEFAULT_LINE + "\n")).state is ReadinessState.READY
    assert bound("#cloud-config\nfinal_message: '   '\n").readiness(observe(DEFAULT_LINE)).state is ReadinessState.READY


def test_multipart_templated_and_lower_case_values():
    user_data = operator_multipart(("cloud-config", "#cloud-config\nfinal_message: 'first $uptime'\n"),
                                   ("cloud-config", "#cloud-config\nfinal_message: '{{fleeting.instance_name}} "
                                    "booted in $uptime seconds'\n"))
    s = bound(user_data)
    assert s.check(user_data) == []
    assert s.readiness(observe("first 3.2\n")).state is ReadinessState.WAITING  # the last part wins
    assert s.readiness(observe("runner-7 booted in 31.02 seconds\n")).state is ReadinessState.READY


def test_the_custom_strategy_with_cloud_init_readiness_uses_it_too():
    s = bound(USER_DATA, "custom", readiness="cloud-init")
    assert s.readiness(observe(DEFAULT_LINE + "\n")).state is ReadinessState.WAITING
    assert s.readiness(observe(PRINTED + "\n")).state is ReadinessState.READY


@pytest.mark.parametrize(("message", "fragment"), [
    ("booted at $TIMESTAMP.", "sub-key"),
    ("up $SECONDS", "knows no value 'SECONDS'"),
    ("$UPTIME", "too little fixed text"),
    ("## template: jinja\n{% if true %}x{% endif %}", "cannot be predicted"),
])
def test_final_messages_cloud_init_would_not_print(strategy, message, fragment):
    errors = strategy.check(f"#cloud-config\nfinal_message: {message!r}\n".replace("'", '"'))
    assert errors and fragment in errors[0], errors
