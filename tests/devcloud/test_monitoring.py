"""docs/monitoring.md against a running plugin: the executable, started as gitlab-runner starts
it, with metrics on, through a create -> ready -> delete lifecycle on the devcloud (the page's
blocks and table: tests/unit/docs/test_monitoring_page.py; the metrics without a cloud:
tests/unit/provider/test_metrics.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import grpc

from fleeting_openstack.cli import main as cli
from fleeting_openstack.provider import metrics
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc, goplugin_pb2, goplugin_pb2_grpc
from installed import plugin_executable
from prometheus import block, declared, free_port, scrape, value

PLUGIN_BIN = plugin_executable()
METRIC = re.compile(r"\bfleeting_openstack_[a-z_]+\b")


def test_a_running_plugin_exports_what_the_page_promises(plugin_config, tmp_path, cleanup_group):
    port = free_port()
    cfg = plugin_config(metrics={"listen": f"127.0.0.1:{port}"})
    env = dict(os.environ, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path), PLUGIN_PROTOCOL_VERSIONS="0",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    proc = subprocess.Popen([PLUGIN_BIN], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        channel = grpc.insecure_channel("unix:" + proc.stdout.readline().split("|")[3])
        group = fleeting_pb2_grpc.InstanceGroupStub(channel)
        group.Init(fleeting_pb2.InitRequest(config=json.dumps(cfg).encode()), timeout=120)
        before = scrape(port)
        assert value(before, "fleeting_openstack_instances") == 0
        assert value(before, "fleeting_openstack_api_requests_total", service="identity") >= 1  # Init's auth
        assert group.Increase(fleeting_pb2.IncreaseRequest(n=1), timeout=120).succeeded == 1

        deadline, running = time.time() + 120, []
        while time.time() < deadline and not running:
            instances = list(group.Update(fleeting_pb2.Empty(), timeout=60))
            running = [i.instance for i in instances if i.state == fleeting_pb2.UpdateResponse.running]
            time.sleep(1)
        assert running, "the server never became running"
        during = scrape(port)
        assert value(during, "fleeting_openstack_instances", state="running") == 1
        assert value(during, "fleeting_openstack_creates_total") == 1
        assert value(during, "fleeting_openstack_instance_ready_seconds_count") == 1
        assert value(during, "fleeting_openstack_update_duration_seconds_count") >= 1
        assert value(during, "fleeting_openstack_api_requests_total", service="compute", method="POST",
                     status="202") == 1  # the one create
        assert value(during, "fleeting_openstack_api_request_duration_seconds_count", service="compute") >= 2

        assert list(group.Decrease(fleeting_pb2.DecreaseRequest(instances=running), timeout=120).succeeded) \
            == running
        deadline = time.time() + 120
        while time.time() < deadline and list(group.Update(fleeting_pb2.Empty(), timeout=60)):
            time.sleep(1)
        after = scrape(port)
        assert value(after, "fleeting_openstack_deletes_total", reason="runner") == 1
        assert value(after, "fleeting_openstack_instances") == 0
        assert value(after, "fleeting_openstack_failures_total") == 0

        exported = declared(port)
        for name in metrics.NAMES:
            assert name in exported, name
        used = set(METRIC.findall(block("Alert rules"))) | set(METRIC.findall(block("Grafana dashboard")))
        assert used and used <= exported, used - exported

        goplugin_pb2_grpc.GRPCControllerStub(channel).Shutdown(goplugin_pb2.Empty(), timeout=10)
        assert proc.wait(timeout=30) == 0
        log = [json.loads(line) for line in proc.stderr.read().splitlines()]
        deleting = [e for e in log if e["@message"] == "deleting server for the runner"]
        assert [e["server"] for e in deleting] == running and deleting[0]["@level"] == "info"
        assert any(e["@message"] == "metrics served" and e["listen"] == f"127.0.0.1:{port}" for e in log)
    finally:
        proc.kill()


def test_metrics_are_off_by_default(plugin_config, tmp_path):
    from devcloud.lifecycle import start

    provider = start(plugin_config())
    try:
        assert not metrics.enabled()
    finally:
        provider.close()
