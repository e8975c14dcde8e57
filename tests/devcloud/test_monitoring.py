"""docs/monitoring.md against a running plugin: the executable, started as gitlab-runner starts
it, with metrics on, through a create -> ready -> delete lifecycle on the devcloud."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml

from fleeting_openstack.cli import main as cli
from fleeting_openstack.provider import metrics
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc, goplugin_pb2, goplugin_pb2_grpc
from installed import plugin_executable

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "monitoring.md"
PLUGIN_BIN = plugin_executable()
METRIC = re.compile(r"\bfleeting_openstack_[a-z_]+\b")
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def block(heading: str) -> str:
    """The first fenced block after ``## heading`` in docs/monitoring.md."""
    section = PAGE.read_text().split(f"\n## {heading}\n", 1)[1]
    return section.split("```", 2)[1].split("\n", 1)[1]


def declared(port: int) -> set[str]:
    """Every series name the endpoint declares (# TYPE), with the suffixes its type implies."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M):
        suffixes = {"histogram": ["", "_bucket", "_count", "_sum"]}.get(kind, [""])
        names |= {name + suffix for suffix in suffixes}
    return names


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, v in samples.items():
        metric, _, rest = key.partition("{")
        have = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and all(have.get(k) == want for k, want in labels.items()):
            total += v
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_documented_blocks_parse():
    assert yaml.safe_load(block("Scrape config"))["scrape_configs"][0]["job_name"] == "fleeting-openstack"
    rules = yaml.safe_load(block("Alert rules"))["groups"][0]["rules"]
    assert len(rules) >= 5 and all(r["expr"] and r["alert"] for r in rules)
    dashboard = json.loads(block("Grafana dashboard"))
    assert dashboard["panels"] and all(p["targets"] for p in dashboard["panels"])


def test_every_exported_metric_is_documented_and_vice_versa():
    text = PAGE.read_text()
    table = {m for m in re.findall(r"^\| `(fleeting_openstack_[a-z_]+)` \|", text, flags=re.M)}
    assert table == set(metrics.NAMES)


def test_a_running_plugin_exports_what_the_page_promises(plugin_config, tmp_path, cleanup_group):
    port = free_port()
    cfg = plugin_config(metrics={"listen": f"127.0.0.1:{port}"})
    env = dict(os.environ, PLUGIN_UNIX_SOCKET_DIR=str(tmp_path), PLUGIN_PROTOCOL_VERSIONS="1",
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
        assert group.Increase(fleeting_pb2.IncreaseRequest(delta=1), timeout=120).succeeded == 1

        deadline, running = time.time() + 120, []
        while time.time() < deadline and not running:
            instances = group.Update(fleeting_pb2.UpdateRequest(), timeout=60).instances
            running = [i.id for i in instances if i.state == "running"]
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
        while time.time() < deadline and group.Update(fleeting_pb2.UpdateRequest(), timeout=60).instances:
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


def test_a_bad_listen_address_is_a_config_error():
    from fleeting_openstack.config import ConfigError, load_plugin_config

    spec = {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "f", "networks": "none"}
    with pytest.raises(ConfigError, match="metrics.listen"):
        load_plugin_config({"name": "g", "server_spec": spec, "metrics": {"listen": "9464"}})
    assert load_plugin_config({"name": "g", "server_spec": spec,
                               "metrics": {"listen": ":9464"}}).config.metrics_listen == ":9464"
    assert metrics.parse_listen(":9464") == ("0.0.0.0", 9464)
    assert metrics.parse_listen("[::1]:9") == ("::1", 9)


def test_requests_without_an_answer_are_counted_as_errors(tmp_path):
    """A Keystone that refuses the connection (a real refused socket, no fake)."""
    from fleeting_openstack.openstack.client import Cloud, CloudError

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  down:\n    auth_type: v3applicationcredential\n    auth:\n"
                      f"      auth_url: http://127.0.0.1:{free_port()}/v3\n      application_credential_id: x\n"
                      "      application_credential_secret: y\n    region_name: RegionOne\n")
    port = free_port()
    metrics.start(f"127.0.0.1:{port}")
    try:
        with pytest.raises(CloudError, match="identity service is unreachable"):
            Cloud.connect("down", str(clouds), "2.79")
        samples = scrape(port)
        assert value(samples, "fleeting_openstack_api_requests_total", service="identity", status="error") >= 1
        assert value(samples, "fleeting_openstack_api_request_duration_seconds_count", service="identity") >= 1
    finally:
        metrics.stop()
