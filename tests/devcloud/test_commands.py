"""The commands for people (status, reap, plugins) against the real devcloud."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleeting_openstack.cli import main as cli
from fleeting_openstack.cli import common as commands
from fleeting_openstack.cli import parser as cmdline
from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.config.identity import META_CLUSTER, group_tag

from devcloud.lifecycle import start, wait_states  # noqa: E402
from sdkfind import find  # noqa: E402


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cmdline.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def wait_status(conn, server_id: str, status: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        server = find(conn.compute.find_server, server_id)
        if server is not None and server.status == status:
            return
        time.sleep(1)
    raise AssertionError(f"server {server_id} never became {status}")


def alive(admin, server_id: str) -> bool:
    server = find(admin.compute.find_server, server_id, all_projects=True)
    return server is not None and server.status != "DELETED" and server.task_state != "deleting"


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def runner_toml(plugin_config: dict, *, name: str, connector: dict | None = None, extra: str = "") -> str:
    """A [[runners]] entry as gitlab-runner's config.toml has it (inline tables)."""
    lines = ["[[runners]]", f"name = {json.dumps(name)}", 'url = "https://gitlab.example.com"',
             'token = "t"', 'executor = "docker-autoscaler"', "[runners.autoscaler]",
             'plugin = "fleeting-plugin-openstack"', "max_instances = 4",
             "[runners.autoscaler.plugin_config]"]
    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in plugin_config.items()]
    if connector is not None:
        lines.append("[runners.autoscaler.connector_config]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in connector.items()]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture()
def neutron_leftovers(demo):
    """Ports, floating IPs and keypairs a test creates; deleted whatever happens."""
    made: dict[str, list[str]] = {"port": [], "ip": [], "keypair": []}
    yield made
    for ip in made["ip"]:
        demo.network.delete_ip(ip, ignore_missing=True)
    for port in made["port"]:
        demo.network.delete_port(port, ignore_missing=True)
    for name in made["keypair"]:
        demo.compute.delete_keypair(name, ignore_missing=True)


# -- plugins ------------------------------------------------------------------------

def test_plugins_lists_builtins_with_their_hooks():
    code, out, _ = run("plugins", "--json")
    assert code == 0
    doc = json.loads(out)
    plugins = {p["name"]: p for p in doc["plugins"]}
    assert {"cloud-init", "ignition", "flatcar", "custom"} <= set(plugins)
    assert {"cloud-init", "ignition", "flatcar", "custom"} <= set(doc["strategies"])
    for name in ("cloud-init", "ignition", "flatcar"):
        assert plugins[name]["strategies"] == [name] and plugins[name]["kind"] == "strategy"
        assert {"fleeting_register_strategies", "fleeting_inject_credentials",
                "fleeting_readiness"} <= set(plugins[name]["hooks"])
        assert plugins[name]["version"]
    assert "fleeting_inject_credentials" not in plugins["custom"]["hooks"]

    code, out, _ = run("plugins")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["PLUGIN", "VERSION", "KIND", "STRATEGIES"]
    assert any(r.startswith("flatcar ") and "inject_credentials" in r for r in rows)


def test_plugins_marks_the_selected_strategy(tmp_path):
    path = tmp_path / "pc.json"
    path.write_text(json.dumps({"name": "g", "strategy": "flatcar",
                                "server_spec": {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "f",
                                                "networks": "none"}}))
    code, out, _ = run("plugins", str(path), "--json")
    assert code == 0 and json.loads(out)["selected_strategy"] == "flatcar"
    code, out, _ = run("plugins", str(path))
    assert "*flatcar" in out


def test_subcommands_are_wired_into_the_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fleeting_openstack.cli.main", "plugins", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "cloud-init" in json.loads(done.stdout)["strategies"]
    assert done.stderr == ""  # no spinner when stderr is not a terminal
    usage = io.StringIO()
    sys_stdout, sys.stdout = sys.stdout, usage
    try:
        cli.main(["help"])
    finally:
        sys.stdout = sys_stdout
    for command in ("status", "reap", "plugins", "render-user-data", "validate"):
        assert f"\n    {command} " in usage.getvalue()


# -- input selection (offline) ---------------------------------------------------------

def test_several_runners_need_runner_and_bad_input_is_reported(tmp_path, plugin_config):
    cfg = plugin_config()
    path = tmp_path / "config.toml"
    path.write_text(runner_toml(cfg, name="first") + runner_toml(dict(cfg, name="other-group"), name="second"))
    code, _, err = run("status", str(path))
    assert code == 2 and "--runner" in err and "first" in err and "second" in err
    code, _, err = run("status", str(path), "--runner", "nope")
    assert code == 2 and "no runner 'nope'" in err

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(cfg, server_spec=dict(cfg["server_spec"], name="a%sb"), typo_key=1)))
    code, out, err = run("reap", str(bad), "--yes")
    assert code == 1 and out == ""  # problems found: the same exit status as validate
    assert "typo_key" in err and "server_spec.name" in err
    code, _, err = run("status", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err


def test_unreachable_cloud_fails_with_one_line(tmp_path, plugin_config, devcloud):
    import yaml

    clouds = yaml.safe_load(Path(devcloud["clouds_yaml"]).read_text())
    clouds["clouds"]["devcloud-demo"]["auth"]["auth_url"] = "http://127.0.0.1:9/v3"
    bad = tmp_path / "clouds.yaml"
    bad.write_text(yaml.safe_dump(clouds))
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config(clouds_config=str(bad))))
    code, out, err = run("status", str(path), "--json")
    assert code == 1 and json.loads(out)["exit_status"] == 1  # --json: JSON on stdout, always (issue 20)
    assert "Init failed" in json.loads(out)["error"]
    assert "Init failed" in err and "Traceback" not in err and len(err.splitlines()) == 1


# -- status and reap against the devcloud ----------------------------------------------------

@pytest.mark.usefixtures("cleanup_group")
def test_status_and_reap(plugin_config, admin, demo, devcloud, group_name, tmp_path, neutron_leftovers):
    cfg = plugin_config()
    healthy = start(cfg)
    assert healthy.increase(2) == 2
    ids = sorted(wait_states(healthy, {State.RUNNING}, 2))
    keep, stopped = ids
    # One compute host: "different_host" from an existing server leaves no valid host -> ERROR.
    failing = start(plugin_config(server_spec={"scheduler_hints": {"different_host": [keep]}}))
    assert failing.increase(1) == 1
    # (not failing.update(): that provider would delete the ERROR server itself)
    (broken,) = {s.id for s in admin.compute.servers(all_projects=True)
                 if s.name.startswith(group_name)} - set(ids)
    wait_status(admin, broken, "ERROR")
    admin.compute.stop_server(stopped)
    wait_status(admin, stopped, "SHUTOFF")

    # Things the group "leaked" outside Nova: a tagged port, a tagged floating IP, a keypair.
    port = demo.network.create_port(network_id=devcloud["networks"]["workers"], name=f"{group_name}-leak")
    neutron_leftovers["port"].append(port.id)
    demo.network.set_tags(port, [group_tag(group_name)])
    fip = demo.network.create_ip(floating_network_id=devcloud["external_network_id"],
                                 description=f"made for {group_tag(group_name)}")
    neutron_leftovers["ip"].append(fip.id)
    public_key = Path(devcloud["keypair"]["public_key"]).read_text()
    demo.compute.create_keypair(name=f"fleeting-{group_name}", public_key=public_key)
    neutron_leftovers["keypair"].append(f"fleeting-{group_name}")
    unrelated = demo.network.create_port(network_id=devcloud["networks"]["workers"], name=f"{group_name}-mine")
    neutron_leftovers["port"].append(unrelated.id)

    # The runner's config.toml, with a second runner so that --runner is needed.
    toml = tmp_path / "config.toml"
    toml.write_text(runner_toml(cfg, name="workers", connector={"username": "core", "use_external_addr": True})
                    + runner_toml(dict(cfg, name="someone-else"), name="other"))

    # status --json: every server, what the plugin would report, why; nothing deleted.
    code, out, err = run("status", str(toml), "--runner", "workers", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["group"] == group_name and doc["runner"] == "workers" and doc["use_external_addr"] is True
    servers = {s["id"]: s for s in doc["servers"]}
    assert set(servers) == {keep, stopped, broken}
    assert servers[keep]["state"] == "running" and not servers[keep]["plugin_deletes"]
    assert servers[keep]["nova_status"] == "ACTIVE"
    assert servers[keep]["internal_addr"].startswith("10.1.0.")
    assert servers[keep]["connect_addr"] == servers[keep]["internal_addr"]  # no floating IP: falls back
    assert servers[keep]["image"]["name"] == "tiny-raw" and servers[keep]["flavor"] == "m1.tiny"
    assert servers[keep]["age_seconds"] > 0 and servers[keep]["reason"]
    assert servers[stopped]["nova_status"] == "SHUTOFF" and servers[stopped]["state"] == "deleting"
    assert servers[stopped]["plugin_deletes"] and "SHUTOFF" in servers[stopped]["reason"]
    assert servers[broken]["nova_status"] == "ERROR" and servers[broken]["state"] == "deleting"
    assert "valid host" in servers[broken]["fault"]
    assert all(alive(admin, i) for i in ids + [broken])

    # The human table says the same.
    code, out, _ = run("status", str(toml), "--runner", "workers")
    assert code == 0
    assert "NAME" in out and "READINESS" in out and "fault: " in out and "valid host" in out
    for word in ("ERROR", "SHUTOFF", "ACTIVE", "running", "deleting", "tiny-raw", "m1.tiny"):
        assert word in out, out

    # reap without --yes: shows, deletes nothing.
    code, out, _ = run("reap", str(toml), "--runner", "0", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["deleted"] is False and found["ok"] is True
    by_kind = {(r["kind"], r["id"]) for r in found["resources"]}
    assert {("server", stopped), ("server", broken), ("port", port.id), ("floating_ip", fip.id),
            ("keypair", f"fleeting-{group_name}")} <= by_kind
    assert ("server", keep) not in by_kind and ("port", unrelated.id) not in by_kind
    why = {r["id"]: r["reason"] for r in found["resources"]}
    assert why[port.id].startswith(f"carries the group tag {group_tag(group_name)}")
    assert why[fip.id].startswith(f"its description contains {group_tag(group_name)}")  # not "tagged"
    assert all(r["action"] == "would delete" for r in found["resources"])
    code, out, _ = run("reap", str(toml), "--runner", "workers")
    assert "run again with --yes" in out
    assert alive(admin, stopped) and alive(admin, broken)
    assert find(demo.network.find_port, port.id) is not None
    assert find(demo.compute.find_keypair, f"fleeting-{group_name}") is not None

    # reap --yes deletes exactly that.
    code, out, err = run("reap", str(toml), "--runner", "workers", "--yes")
    assert code == 0, err
    assert "deleted" in out
    deadline = time.time() + 60
    while time.time() < deadline and (alive(admin, stopped) or alive(admin, broken)):
        time.sleep(1)
    assert not alive(admin, stopped) and not alive(admin, broken)
    assert alive(admin, keep)
    assert find(demo.network.find_port, port.id) is None and find(demo.network.find_ip, fip.id) is None
    assert find(demo.compute.find_keypair, f"fleeting-{group_name}") is None
    assert find(demo.network.find_port, unrelated.id) is not None

    healthy.decrease([keep])


@pytest.mark.usefixtures("cleanup_group")
def test_reap_finds_ports_of_deleted_group_servers(plugin_config, demo, devcloud, group_name, tmp_path,
                                                    neutron_leftovers):
    """Nova can fail to clean up a port: it stays bound to a server that no longer exists."""
    cfg = plugin_config()
    provider = start(cfg)
    provider.increase(1)
    (sid,) = dict(wait_states(provider, {State.RUNNING}, 1))
    provider.decrease([sid])
    deadline = time.time() + 60
    while time.time() < deadline and provider.update():
        time.sleep(1)
    orphan = demo.network.create_port(network_id=devcloud["networks"]["workers"], device_id=sid,
                                      device_owner="compute:nova")
    neutron_leftovers["port"].append(orphan.id)
    fip = demo.network.create_ip(floating_network_id=devcloud["external_network_id"], port_id=orphan.id)
    neutron_leftovers["ip"].append(fip.id)
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))

    code, out, _ = run("reap", str(path), "--json")
    assert code == 0
    found = {(r["kind"], r["id"]): r for r in json.loads(out)["resources"]}
    assert ("port", orphan.id) in found and "deleted group server" in found[("port", orphan.id)]["reason"]
    assert ("floating_ip", fip.id) in found
    code, _, _ = run("reap", str(path), "--yes")
    assert code == 0
    assert find(demo.network.find_port, orphan.id) is None and find(demo.network.find_ip, fip.id) is None


@pytest.mark.usefixtures("cleanup_group")
def test_status_observes_without_side_effects(plugin_config, demo, devcloud, group_name, tmp_path):
    """A server of the Go plugin (metadata only) is shown but not adopted (tagged); no key
    store is created; Init problems are reported instead of hiding the group."""
    legacy = demo.compute.create_server(
        name=f"{group_name}-1", image_id=devcloud["images"]["tiny-raw"],
        flavor_id=devcloud["flavors"]["m1.tiny"], networks=[{"uuid": devcloud["networks"]["workers"]}],
        metadata={META_CLUSTER: group_name})
    demo.compute.wait_for_server(legacy, wait=60)
    state_dir = tmp_path / "fresh-state"
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config(credentials={"state_dir": str(state_dir)},
                                             server_spec={"flavorRef": "no-such-flavor"})))
    code, out, err = run("status", str(path), "--json")
    assert code == 1, err  # Init would fail: a problem found, the exit status of every command (issue 20)
    doc = json.loads(out)
    assert [s["id"] for s in doc["servers"]] == [legacy.id]
    assert any("server_spec.flavorRef" in p for p in doc["problems"])
    assert group_tag(group_name) not in (demo.compute.get_server(legacy.id).tags or [])
    assert not state_dir.exists()
    code, out, _ = run("status", str(path))
    assert code == 1 and "Init would fail: server_spec.flavorRef" in out


@pytest.mark.usefixtures("cleanup_group")
def test_reap_exits_non_zero_when_a_delete_fails(plugin_config, demo, devcloud, group_name, tmp_path,
                                                  neutron_leftovers, monkeypatch):
    port = demo.network.create_port(network_id=devcloud["networks"]["workers"], name=f"{group_name}-leak")
    neutron_leftovers["port"].append(port.id)
    demo.network.set_tags(port, [group_tag(group_name)])
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config()))

    from fleeting_openstack.openstack.client import Cloud

    def refuse(cloud, port_id):
        raise RuntimeError("Conflict: port is in use")

    monkeypatch.setattr(Cloud, "delete_port", refuse)
    code, out, err = run("reap", str(path), "--yes", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False and doc["resources"][0]["action"] == "failed"
    assert "port is in use" in err


# -- pieces without the cloud --------------------------------------------------------------

class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_spins_on_a_terminal_only():
    tty = FakeTTY()
    with commands.Progress(tty, "listing servers", interval=0.01) as progress:
        time.sleep(0.05)
        progress.say("listing ports")
        time.sleep(0.05)
    text = tty.getvalue()
    assert "listing servers" in text and "listing ports" in text
    assert text.endswith("\r\x1b[K")  # the line is erased before the output
    assert "\n" not in text
    pipe = io.StringIO()
    with commands.Progress(pipe, "listing servers", interval=0.01):
        time.sleep(0.03)
    assert pipe.getvalue() == ""


