"""The plugin process as go-plugin sees it, driven from Python (the Go
client's view is in tests/conformance)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest

from fleeting_openstack.cli import main as cli
from fleeting_openstack.transport import goplugin
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc, goplugin_pb2, goplugin_pb2_grpc
from project import SUPPORT as SUPPORT_DIR

SUPPORT = str(SUPPORT_DIR)


def test_negotiate_version_is_the_highest_the_host_offers():
    assert goplugin.negotiate_version(None) == 0  # no PLUGIN_PROTOCOL_VERSIONS: fleeting's version
    assert goplugin.negotiate_version("") == 0
    assert goplugin.negotiate_version("0") == 0  # fleeting's client
    assert goplugin.negotiate_version("1") == 1
    assert goplugin.negotiate_version("3") == 3
    assert goplugin.negotiate_version("3,0") == 3
    assert goplugin.negotiate_version("0, 7,x") == 7  # an invalid item is ignored


@pytest.mark.parametrize(("offered", "app"), [(None, "0"), ("0", "0"), ("1", "1"), ("3", "3"), ("3,0", "3")])
def test_handshake_line_carries_the_negotiated_version(tmp_path, offered, app):
    env = {} if offered is None else {"PLUGIN_PROTOCOL_VERSIONS": offered}
    proc, line = launch(tmp_path, env, versions=offered)
    try:
        assert line.split("|")[1] == app
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def launch(tmp_path, extra=None, provider="memory_provider:MemoryProvider", versions="0"):
    env = dict(os.environ, PYTHONPATH=SUPPORT, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path),
               FLEETING_OPENSTACK_PROVIDER=provider,
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE}, **(extra or {}))
    env.pop("PLUGIN_PROTOCOL_VERSIONS", None)
    if versions is not None:
        env["PLUGIN_PROTOCOL_VERSIONS"] = versions
    proc = subprocess.Popen([sys.executable, "-m", "fleeting_openstack.cli.main"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line


def test_stdout_is_only_the_handshake_and_shutdown_cleans_up(tmp_path):
    proc, line = launch(tmp_path)
    try:
        core, app, network, addr, protocol, cert = line.rstrip("\n").split("|")
        assert (core, app, network, protocol, cert) == ("1", "0", "unix", "grpc", "")
        assert os.path.dirname(addr) == str(tmp_path) and os.path.exists(addr)
        channel = grpc.insecure_channel("unix:" + addr)
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        info = group.Init(fleeting_pb2.InitRequest(config=b'{"name":"t"}'), timeout=10)
        assert info.id == "memory/t"
        goplugin_pb2_grpc.GRPCControllerStub(channel).Shutdown(goplugin_pb2.Empty(), timeout=10)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # nothing after the handshake line
        assert not os.path.exists(addr)
        for entry in proc.stderr.read().splitlines():
            assert json.loads(entry)["@level"] in {"trace", "debug", "info", "warn", "error"}
    finally:
        proc.kill()


def test_shutdown_with_a_call_in_flight_exits_before_goplugin_kills(tmp_path):
    """go-plugin's Kill waits 2 s after Controller.Shutdown, then SIGKILLs: an Increase still
    working (its worker threads Python would wait for at exit) must not hold the process."""
    proc, line = launch(tmp_path)
    try:
        addr = line.rstrip("\n").split("|")[3]
        channel = grpc.insecure_channel("unix:" + addr)
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        group.Init(fleeting_pb2.InitRequest(config=b'{"name":"t","hang_increase":30}'), timeout=10)
        pending = group.Increase.future(fleeting_pb2.IncreaseRequest(n=2), timeout=60)
        time.sleep(0.5)
        assert not pending.done()
        started = time.monotonic()
        goplugin_pb2_grpc.GRPCControllerStub(channel).Shutdown(goplugin_pb2.Empty(), timeout=10)
        assert proc.wait(timeout=10) == 0
        took = time.monotonic() - started
        assert took < 1.9, f"exited {took:.2f}s after Shutdown: go-plugin would have SIGKILLed it at 2 s"
        assert not os.path.exists(addr)
    finally:
        proc.kill()


def test_partial_increase_and_decrease_answer_ok_with_what_was_done(tmp_path):
    """fleeting's Go client drops the body of an error answer: a partial Increase/Decrease is
    answered OK with the count / ids done (else the runner counts 0 while servers exist), and the
    reason is logged at warn."""
    proc, line = launch(tmp_path)
    try:
        addr = line.rstrip("\n").split("|")[3]
        channel = grpc.insecure_channel("unix:" + addr)
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        group.Init(fleeting_pb2.InitRequest(config=b'{"name":"t","max_size":2}'), timeout=10)
        assert group.Increase(fleeting_pb2.IncreaseRequest(n=5), timeout=10).succeeded == 2
        done = group.Decrease(fleeting_pb2.DecreaseRequest(instances=["mem-1", "nope"]), timeout=10)
        assert list(done.succeeded) == ["mem-1"]
        goplugin_pb2_grpc.GRPCControllerStub(channel).Shutdown(goplugin_pb2.Empty(), timeout=10)
        assert proc.wait(timeout=10) == 0
        warned = [e for e in map(json.loads, proc.stderr.read().splitlines()) if e["@level"] == "warn"]
        messages = [e["@message"] for e in warned]
        assert "Increase partly done: max_size 2 reached" in messages, messages
        assert "Decrease partly done: no such instance: nope" in messages, messages
    finally:
        proc.kill()


def test_multiplex_answered_false(tmp_path):
    proc, line = launch(tmp_path, {"PLUGIN_MULTIPLEX_GRPC": "true"})
    try:
        assert line.rstrip("\n").split("|")[6] == "false"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_sigterm_exits_cleanly_and_removes_socket(tmp_path):
    proc, line = launch(tmp_path)
    addr = line.split("|")[3]
    proc.send_signal(signal.SIGINT)  # ignored
    time.sleep(0.3)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(addr)


def test_provider_crash_is_one_json_error_line(tmp_path):
    # The provider is built after the handshake line (the line does not wait for
    # gRPC and the provider's imports), so the line is out; then one error line, exit 1.
    proc, line = launch(tmp_path, provider="no_such_module:Nope")
    assert line.startswith("1|0|unix|")
    assert proc.wait(timeout=10) == 1
    assert not os.path.exists(line.split("|")[3])  # socket removed
    err = proc.stderr.read().strip().splitlines()
    assert len(err) == 1, err
    entry = json.loads(err[0])
    assert entry["@level"] == "error" and "no_such_module" in entry["@message"]
    assert entry["@message"].startswith("plugin init error: the gRPC server did not start: ")
    assert "Traceback" in entry["traceback"]


def test_exits_when_parent_dies(tmp_path):
    # A shell parent starts the plugin in the background and exits at once.
    env = dict(os.environ, PYTHONPATH=SUPPORT, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path),
               FLEETING_OPENSTACK_PROVIDER="memory_provider:MemoryProvider",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    out = subprocess.run(["sh", "-c", f"{sys.executable} -m fleeting_openstack.cli.main >/dev/null 2>&1 & echo $!; sleep 2"],
                         env=env, capture_output=True, text=True, timeout=10, cwd=tmp_path)
    pid = int(out.stdout.strip())
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("plugin outlived its parent")
    assert os.listdir(tmp_path) == []
