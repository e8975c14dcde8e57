"""hclog JSON lines as go-plugin's client parses them."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from fleeting_openstack.transport import hclog

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")


@pytest.fixture()
def capture():
    stream = io.StringIO()
    hclog.configure("trace", stream=stream)
    yield stream
    hclog.configure("info")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_levels_map_to_hclog_names(capture):
    log = logging.getLogger("fleeting_openstack.provider")
    log.log(hclog.TRACE, "t")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    got = [(entry["@level"], entry["@message"]) for entry in lines(capture)]
    assert got == [("trace", "t"), ("debug", "d"), ("info", "i"), ("warn", "w"), ("error", "e"), ("error", "c")]


def test_fields_timestamp_module_and_extras(capture):
    logging.getLogger("fleeting_openstack.provider").info("hello\nworld", extra={"server": "abc", "n": 3})
    (entry,) = lines(capture)
    assert entry["@message"] == "hello\nworld"
    assert entry["@module"] == "fleeting-plugin-openstack.provider"
    assert TS.match(entry["@timestamp"]), entry["@timestamp"]
    assert entry["server"] == "abc" and entry["n"] == 3
    assert len(capture.getvalue().splitlines()) == 1


def test_exception_becomes_fields_not_raw_traceback(capture):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("fleeting_openstack").exception("failed")
    (entry,) = lines(capture)
    assert entry["@level"] == "error" and entry["error"] == "boom"
    assert "Traceback" in entry["traceback"] and "RuntimeError: boom" in entry["traceback"]


def test_level_filter(capture):
    hclog.set_level("warn")
    log = logging.getLogger("fleeting_openstack")
    log.info("hidden")
    log.warning("shown")
    assert [e["@message"] for e in lines(capture)] == ["shown"]


def test_timestamp_offset_format():
    assert TS.match(hclog.format_timestamp(0.0))
    assert TS.match(hclog.format_timestamp(1_700_000_000.123456))


# -- plugin mode: every stderr line is hclog JSON ---------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402


from installed import plugin_executable  # noqa: E402
from project import SUPPORT as SUPPORT_DIR  # noqa: E402

SUPPORT = str(SUPPORT_DIR)
PLUGIN_BIN = plugin_executable()


def _plugin_session(tmp_path, config: dict, env_extra: dict) -> list[str]:
    """Start the installed plugin as gitlab-runner does, Init with ``config``, shut it down;
    return its stderr lines."""
    import grpc

    from fleeting_openstack.cli import main as cli
    from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc, goplugin_pb2, goplugin_pb2_grpc

    env = dict(os.environ, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path), PLUGIN_PROTOCOL_VERSIONS="0",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE}, **env_extra)
    proc = subprocess.Popen([PLUGIN_BIN], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        addr = proc.stdout.readline().split("|")[3]
        channel = grpc.insecure_channel("unix:" + addr)
        with pytest.raises(grpc.RpcError) if config.get("expect_error") else _nothing():
            fleeting_pb2_grpc.InstanceGroupStub(channel).Init(
                fleeting_pb2.InitRequest(config=json.dumps(config["plugin_config"]).encode()), timeout=120)
        goplugin_pb2_grpc.GRPCControllerStub(channel).Shutdown(goplugin_pb2.Empty(), timeout=10)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == ""  # stdout: the handshake line only
        return proc.stderr.read().splitlines()
    finally:
        proc.kill()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _assert_hclog(lines_: list[str]) -> list[dict]:
    entries = []
    for line in lines_:
        entry = json.loads(line)  # raises on any line that is not JSON
        assert entry["@level"] in {"trace", "debug", "info", "warn", "error"} and "@message" in entry, line
        assert TS.match(entry["@timestamp"]), line
        entries.append(entry)
    return entries


def test_writes_that_bypass_logging_become_hclog_lines(tmp_path):
    stderr = _plugin_session(tmp_path, {"plugin_config": {"name": "n", "noise": True}},
                             {"PYTHONPATH": SUPPORT, "FLEETING_OPENSTACK_PROVIDER": "memory_provider:MemoryProvider"})
    entries = _assert_hclog(stderr)
    messages = {e["@message"]: e for e in entries}
    raw = messages["E1203 raw line written to fd 2 (like grpc's C core)"]
    assert raw["@module"] == "fleeting-plugin-openstack.stderr" and raw["@level"] == "error"
    assert "a stray print to stderr" in messages
    assert any("Unable to establish connection" in m for m in messages)
    assert any("a library warning" in m for m in messages)


def test_an_unreachable_keystone_logs_only_hclog_lines(tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  down:\n    auth_type: v3applicationcredential\n    auth:\n"
                      "      auth_url: http://127.0.0.1:9/v3\n      application_credential_id: x\n"
                      "      application_credential_secret: y\n    region_name: RegionOne\n")
    config = {"expect_error": True, "plugin_config": {
        "name": "n", "cloud": "down", "clouds_config": str(clouds), "credentials": {"state_dir": str(tmp_path / "s")},
        "server_spec": {"name": "n-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "f",
                        "networks": "none"}}}
    entries = _assert_hclog(_plugin_session(tmp_path, config, {"FLEETING_OPENSTACK_LOG_LEVEL": "trace"}))
    modules = {e["@module"] for e in entries}
    assert any(m.startswith("keystoneauth") for m in modules), modules  # library lines, as hclog
    assert any("identity service is unreachable" in e["@message"] for e in entries)


def test_set_level_trace_also_opens_the_libraries_as_configure_does():
    hclog.configure("info", stream=io.StringIO())
    assert logging.getLogger("keystoneauth").level == logging.WARNING
    hclog.set_level("trace")  # plugin_config log_level, after start-up
    assert logging.getLogger("keystoneauth").level == hclog.TRACE
    hclog.set_level("debug")
    assert logging.getLogger("keystoneauth").level == logging.WARNING
