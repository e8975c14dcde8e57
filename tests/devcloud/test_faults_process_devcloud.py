"""Fault suite, the plugin as a process: a Nova that hangs every call cannot
starve go-plugin's health ping, the runner's Heartbeat or Update, or stop SIGTERM
(stale sockets and mTLS dirs: tests/unit/transport/test_stale.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from fleeting_openstack.cli import main as cli
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc, health_pb2, health_pb2_grpc

from faultkit import FAST  # noqa: E402

from faultproxy import FaultyCloud  # noqa: E402


def _launch(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path), PLUGIN_PROTOCOL_VERSIONS="0",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    env.pop("FLEETING_OPENSTACK_PROVIDER", None)
    proc = subprocess.Popen([sys.executable, "-m", "fleeting_openstack.cli.main"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().split("|")[3]


@pytest.mark.usefixtures("cleanup_group")
def test_health_heartbeat_update_and_sigterm_answered_while_nova_hangs(devcloud, plugin_config, tmp_path):
    """Every call to Nova hangs: the 12 workers for provider calls fill with ConnectInfo calls
    stuck on Nova and further ones are refused, yet go-plugin's health ping, Heartbeat (the
    group view) and Update (the last known states, one listing in flight), each with workers
    of its own, answer at once, and SIGTERM ends the process."""
    faulty = FaultyCloud(devcloud, tmp_path)
    proc, addr = _launch(tmp_path)
    try:
        channel = grpc.insecure_channel("unix:" + addr)
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        cfg = plugin_config(cloud=faulty.cloud, clouds_config=str(faulty.clouds_yaml),
                            **{**FAST, "api_timeout": "60s", "retry_budget": "60s"})
        group.Init(fleeting_pb2.InitRequest(config=json.dumps(cfg).encode()), timeout=60)
        assert group.Increase(fleeting_pb2.IncreaseRequest(n=1), timeout=60).succeeded == 1
        deadline, member = time.time() + 90, None
        while member is None:
            assert time.time() < deadline, "no running server"
            running = [u.instance for u in group.Update(fleeting_pb2.Empty(), timeout=60)
                       if u.state == fleeting_pb2.UpdateResponse.running]
            member = running[0] if running else None
            time.sleep(1)
        faulty.nova.add("hang")  # from now on Nova never answers
        unknown = "00000000-0000-4000-8000-000000000001"
        outcomes: list[str] = []

        def connect_info() -> None:
            try:
                group.ConnectInfo(fleeting_pb2.ConnectInfoRequest(instance=unknown), timeout=90)
                outcomes.append("ok")
            except grpc.RpcError as exc:
                outcomes.append(exc.code().name)

        callers = [threading.Thread(target=connect_info, daemon=True) for _ in range(20)]
        for t in callers:
            t.start()
        deadline = time.time() + 30
        while time.time() < deadline and len(faulty.nova.requests(path=unknown)) < 12:
            time.sleep(0.2)
        assert len(faulty.nova.requests(path=unknown)) == 12  # every worker for provider calls hangs
        time.sleep(1)
        assert outcomes.count("RESOURCE_EXHAUSTED") == 20 - 12  # the reserve held
        health = health_pb2_grpc.HealthStub(channel)
        answers = [health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=3).status
                   for _ in range(10)]
        assert answers == [health_pb2.HealthCheckResponse.SERVING] * 10
        for _ in range(10):  # the runner's health check of a healthy instance: never failed
            began = time.monotonic()
            group.Heartbeat(fleeting_pb2.HeartbeatRequest(instance=member), timeout=3)
            assert time.monotonic() - began < 1
        with pytest.raises(grpc.RpcError, match="not in group") as unhealthy:
            group.Heartbeat(fleeting_pb2.HeartbeatRequest(instance=unknown), timeout=3)
        assert unhealthy.value.code() is grpc.StatusCode.UNAVAILABLE
        took = []
        for _ in range(5):  # the last known states, at once (the first waits for the refresh it starts)
            began = time.monotonic()
            states = {u.instance: u.state for u in group.Update(fleeting_pb2.Empty(), timeout=10)}
            took.append(time.monotonic() - began)
            assert states == {member: fleeting_pb2.UpdateResponse.running}
        assert max(took[1:]) < 1 and took[0] < 5, took
        hung = [r for r in faulty.nova.requests(path=r"/servers/detail") if r.fault == "hang"]
        assert len(hung) == 1  # one listing in flight, not one per Update
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # although 13 calls still hang on Nova
    finally:
        proc.kill()
        faulty.close()
