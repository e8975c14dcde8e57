"""Fault suite, the plugin as a process: a Nova that hangs every call cannot
starve go-plugin's health ping or stop SIGTERM (stale sockets and mTLS dirs:
tests/unit/transport/test_stale.py)."""

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
def test_health_and_sigterm_answered_while_nova_hangs(devcloud, plugin_config, tmp_path):
    faulty = FaultyCloud(devcloud, tmp_path)
    proc, addr = _launch(tmp_path)
    try:
        channel = grpc.insecure_channel("unix:" + addr)
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        cfg = plugin_config(cloud=faulty.cloud, clouds_config=str(faulty.clouds_yaml),
                            **{**FAST, "api_timeout": "60s", "retry_budget": "60s"})
        group.Init(fleeting_pb2.InitRequest(config=json.dumps(cfg).encode()), timeout=60)
        list(group.Update(fleeting_pb2.Empty(), timeout=60))  # the view exists
        faulty.nova.add("hang")  # from now on Nova never answers
        outcomes: list[str] = []

        def call() -> None:
            try:
                group.Heartbeat(fleeting_pb2.HeartbeatRequest(instance="00000000-0000-4000-8000-000000000001"),
                                timeout=90)
                outcomes.append("ok")
            except grpc.RpcError as exc:
                outcomes.append(exc.code().name)

        callers = [threading.Thread(target=call, daemon=True) for _ in range(20)]
        for t in callers:
            t.start()
        deadline = time.time() + 30
        while time.time() < deadline and len(faulty.nova.requests()) < 5:
            time.sleep(0.2)
        health = health_pb2_grpc.HealthStub(channel)
        answers = [health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=3).status
                   for _ in range(10)]
        assert answers == [health_pb2.HealthCheckResponse.SERVING] * 10
        time.sleep(1)
        assert outcomes.count("RESOURCE_EXHAUSTED") >= 20 - 12  # the reserve held
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # although 12 calls still hang on Nova
    finally:
        proc.kill()
        faulty.close()
