"""host/trace.py: hook tracing logs calls and results, never a private key or the password in flight."""

from __future__ import annotations

import logging

import pluggy
import pytest

from fleeting_openstack.host import trace
from fleeting_openstack.plugin import InstanceCredentials, hookimpl, hookspecs

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n"


def test_redact_removes_private_keys_and_shortens():
    assert "b3BlbnNz" not in trace.redact(f"before {KEY} after")
    assert "<redacted private key>" in trace.redact(KEY)
    assert trace.redact("x" * 2100).endswith("...<100 more chars>'")
    assert trace.redact({"a": 1}) == "{'a': 1}"


def test_hiding_redacts_the_secret_only_inside_the_block():
    with trace.hiding("pa'ss", None, ""):
        assert "pa'ss" not in trace.redact("password: pa'ss")
        assert "pa''ss" not in trace.redact("password: 'pa''ss'")  # YAML's single-quoted form
        assert "<redacted>" in trace.redact(["pa'ss"])  # escaped inside a repr
    assert "pa'ss" in trace.redact("password: pa'ss")


@pytest.mark.parametrize(("value", "on"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("", False)])
def test_enabled_by_env(monkeypatch, value, on):
    monkeypatch.setenv(trace.TRACE_ENV, value)
    assert trace.enabled_by_env() is on


def test_before_and_after_log_through_plugginess_monitoring(caplog):
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)

    class Strategy:
        @hookimpl
        def fleeting_default_username(self, image):
            return KEY

    pm.register(Strategy(), "strategy:s")
    pm.add_hookcall_monitoring(trace.before, trace.after)
    with caplog.at_level(logging.DEBUG, logger="fleeting_openstack.strategies"):
        pm.hook.fleeting_default_username(image="img", options={}, strategy=InstanceCredentials("u", password="pw"))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("hook fleeting_default_username(image='img'") and lines[0].endswith("-> [strategy:s]")
    assert "password=<redacted>" in lines[0]
    assert lines[1].startswith("hook fleeting_default_username returned") and "<redacted private key>" in lines[1]
    assert "b3BlbnNz" not in "".join(lines)
