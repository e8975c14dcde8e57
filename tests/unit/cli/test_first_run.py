"""What a new operator trips on (issue 20, items 3, 4 and 5): offline ``validate`` catches what needs
no cloud, each problem at the key the operator wrote with the fix; Go's duration range; truthful
output of ``status``, ``protocol`` and the commands' logging; ``render-user-data`` offline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.rules import DURATIONS
from fleeting_openstack.godurations import GO_DURATION_MAX, parse_duration
from fleeting_openstack.openstack.resources import resolve_resources
from installed import plugin_executable, run_cli

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
NET = "f05e7f64-9e0f-4c5c-acb0-b636000d7301"
SPEC = {"name": "g-%d", "imageRef": IMAGE, "flavorRef": "1", "networks": [{"uuid": NET}]}
#: one nanosecond beyond an int64 of nanoseconds: Go's ParseDuration refuses it
BEYOND_GO = "2562047h47m16.854775808s"


def config(**extra):
    return {"name": "g", "server_spec": dict(SPEC), **extra}


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def runner(plugin_config: dict, *, name: str = "r", connector: dict | None = None) -> str:
    lines = ["[[runners]]", f"name = {json.dumps(name)}", 'executor = "docker-autoscaler"', "[runners.autoscaler]",
             'plugin = "fleeting-plugin-openstack"', "[runners.autoscaler.plugin_config]"]
    lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in plugin_config.items()]
    if connector is not None:
        lines.append("[runners.autoscaler.connector_config]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in connector.items()]
    return "\n".join(lines) + "\n"


def validate(tmp_path: Path, text: str, suffix: str = ".toml", *args: str) -> tuple[int, dict]:
    path = tmp_path / f"config{suffix}"
    path.write_text(text)
    code, out, err = run_cli("validate", "--json", *args, str(path))
    return code, json.loads(out)


def at(report: dict, path: str, kind: str = "errors") -> list[str]:
    return [i["message"] for i in report[kind] if i["path"] == path]


# -- item 3: offline validate --------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(DURATIONS))
def test_every_duration_key_has_gos_range(tmp_path, key):
    head, _, leaf = key.rpartition(".")
    value = {leaf: BEYOND_GO}
    doc = config(**({head: value} if head else value))
    code, report = validate(tmp_path, json.dumps(doc), ".json")
    assert code == 1
    [message] = at(report, key)
    assert "out of Go's range" in message and GO_DURATION_MAX in message


def test_gos_range_is_exact():
    assert parse_duration(GO_DURATION_MAX) == pytest.approx(9223372036.854775807)
    assert parse_duration("-" + BEYOND_GO) < 0  # Go's minimum is one nanosecond further
    for text in (BEYOND_GO, "99999999999h", "-2562047h47m16.854775809s"):
        with pytest.raises(ValueError, match="out of Go's range"):
            parse_duration(text)


def test_the_largest_go_duration_is_a_usable_timeout():
    """api_timeout at Go's maximum used to make ``status`` die with OverflowError in the socket layer."""
    cfg = load_plugin_config(config(api_timeout=GO_DURATION_MAX, api_connect_timeout=GO_DURATION_MAX,
                                    readiness={"probe_timeout": GO_DURATION_MAX})).config
    assert cfg.api_timeout is not None
    with socket.socket() as s:
        for timeout in (cfg.api_timeout, cfg.api_connect_timeout, cfg.readiness.probe_timeout):
            s.settimeout(timeout)


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("build_timeout", "1ns", "errors"),
    ("build_timeout", "30s", "warnings"),
    ("api_timeout", "1ms", "errors"),
    ("api_connect_timeout", "1us", "errors"),
    ("readiness.probe_timeout", "1ns", "errors"),
])
def test_durations_too_short_to_work(tmp_path, key, value, kind):
    head, _, leaf = key.rpartition(".")
    doc = config(**({head: {leaf: value}} if head else {leaf: value}))
    code, report = validate(tmp_path, json.dumps(doc), ".json")
    assert code == (1 if kind == "errors" else 0)
    [message] = at(report, key, kind)
    assert repr(value) in message and "use" in message  # what was written, and the fix


def test_a_relative_state_dir_is_an_error(tmp_path):
    code, report = validate(tmp_path, json.dumps(config(credentials={"state_dir": "state"})), ".json")
    assert code == 1
    [message] = at(report, "credentials.state_dir")
    assert "relative path" in message and "absolute path" in message
    for fine in ("/var/lib/x", "~/state"):
        assert validate(tmp_path, json.dumps(config(credentials={"state_dir": fine})), ".json")[0] == 0


@pytest.mark.parametrize("listen", ["9464", ":99999", ":0", "host:65536"])
def test_metrics_listen_errors_show_an_example_and_check_the_port(tmp_path, listen):
    code, report = validate(tmp_path, json.dumps(config(metrics={"listen": listen})), ".json")
    assert code == 1
    [message] = at(report, "metrics.listen")
    assert '":9464"' in message and "1 to 65535" in message and "pattern" not in message


def test_metrics_listen_that_works(tmp_path):
    for listen in (":9464", "127.0.0.1:65535", "[::1]:1"):
        assert validate(tmp_path, json.dumps(config(metrics={"listen": listen})), ".json")[0] == 0


def test_connector_config_problems_are_at_the_runners_connector_config(tmp_path):
    key_dir = tmp_path / "a-directory"
    key_dir.mkdir()
    text = (runner(config(), name="a", connector={"key_path": str(tmp_path / "missing"), "keepalive": BEYOND_GO})
            + runner(config(name="b"), name="b", connector={"key_path": str(key_dir)})
            + runner(config(name="c"), name="c", connector={"use_static_credentials": True}))
    code, report = validate(tmp_path, text)
    assert code == 1
    base = "runners[{}].autoscaler.connector_config"
    [missing] = at(report, base.format(0) + ".key_path")
    assert "No such file or directory" in missing and "remove key_path" in missing
    assert "out of Go's range" in at(report, base.format(0) + ".keepalive")[0]
    assert "Is a directory" in at(report, base.format(1) + ".key_path")[0]
    [static] = at(report, base.format(2) + ".use_static_credentials")
    assert "neither key_path nor password" in static
    assert not [i for i in report["errors"] if ".plugin_config.connector_config" in i["path"]]


def test_strategy_custom_without_static_credentials(tmp_path):
    code, report = validate(tmp_path, runner(config(strategy="custom")))
    assert code == 1
    [message] = at(report, "runners[0].autoscaler.connector_config.use_static_credentials")
    assert "strategy 'custom'" in message and "key_path" in message
    key = tmp_path / "id"
    key.write_text("KEY")
    ok = runner(config(strategy="custom"), connector={"use_static_credentials": True, "key_path": str(key)})
    assert validate(tmp_path, ok)[0] == 0
    # a plugin_config file does not hold the runner's connector_config: a warning, at strategy
    code, report = validate(tmp_path, json.dumps(config(strategy="custom")), ".json")
    assert code == 0 and "use_static_credentials" in at(report, "strategy", "warnings")[0]


def test_two_runners_on_one_group(tmp_path):
    code, report = validate(tmp_path, runner(config(cloud="c"), name="a") + runner(config(cloud="c"), name="b"))
    assert code == 1
    [message] = at(report, "runners[1].autoscaler.plugin_config.name")
    assert "also used by runners[0] ('a')" in message and "name of its own" in message
    # other cloud entries may be other projects: a warning
    code, report = validate(tmp_path, runner(config(cloud="c"), name="a") + runner(config(cloud="d"), name="b"))
    assert code == 0 and at(report, "runners[1].autoscaler.plugin_config.name", "warnings")
    # two groups: nothing
    code, report = validate(tmp_path, runner(config(), name="a") + runner(config(name="g2"), name="b"))
    assert code == 0 and not report["warnings"]


def test_strategy_option_and_user_data_file_problems_are_at_their_keys(tmp_path):
    code, report = validate(tmp_path, json.dumps(config(strategy="flatcar",
                                                        strategy_options={"disable_update": True})), ".json")
    assert code == 1
    assert [i["path"] for i in report["errors"]] == ["strategy_options.disable_update"]
    assert "disable_updates" in report["errors"][0]["message"]  # the known options: the fix
    user_data = tmp_path / "user-data"
    user_data.write_text("#cloud-config\nusers: 5\n")
    code, report = validate(tmp_path, json.dumps(config(user_data_file=str(user_data))), ".json")
    assert code == 1 and [i["path"] for i in report["errors"]] == ["user_data_file"]


def test_check_cloud_names_the_runners_connector_config(tmp_path):
    from fleeting_openstack.cli import validate as validate_mod
    from fleeting_openstack.config import ConfigIssue

    def cloud(cfg, connector):  # what initchecks reports about the runner's connector_config
        return [ConfigIssue("connector_config.username", "login user 'x' (connector_config.username)", "info"),
                ConfigIssue("server_spec.flavorRef", "flavor 1 not found")]

    path = tmp_path / "config.toml"
    path.write_text(runner(config(), connector={"username": "x"}))
    report = validate_mod.validate_path(path, cloud, env={})
    assert [r.path for r in report.resolved] == ["runners[0].autoscaler.connector_config.username"]
    assert [e.path for e in report.errors] == ["runners[0].autoscaler.plugin_config.server_spec.flavorRef"]


# -- item 4: truthful output ---------------------------------------------------------------------

class Lookups:
    """The cloud's answers to resolve_resources: nothing of the named references exists."""

    def image(self, ref=None, name=None):
        from fleeting_openstack.openstack.models import Image
        return Image(id=ref or "i", name="img", properties={})

    def flavor_id(self, ref=None, name=None):
        return "1"

    def network_exists(self, ref):
        return False

    def network_name(self, ref):
        return None

    def port_exists(self, ref):
        return False

    def security_group_exists(self, ref):
        return False

    def keypair_exists(self, name):
        return False

    def server_group_exists(self, ref):
        return False


def test_nothing_not_found_is_also_resolved():
    cfg = load_plugin_config(config(server_spec=dict(
        SPEC, networks=[{"uuid": NET}, {"port": NET}], security_groups=["nope"], key_name="k",
        scheduler_hints={"group": NET}))).config
    problems: list[str] = []
    summary: list[tuple[str, str]] = []
    resolve_resources(Lookups(), cfg.server_spec.body, problems, summary)
    missing = {p.split(":")[0] for p in problems}
    assert missing == {"server_spec.networks[0].uuid", "server_spec.networks[1].port",
                       "server_spec.security_groups[0]", "server_spec.key_name", "server_spec.scheduler_hints.group"}
    assert not missing & {path for path, _ in summary}


def test_status_and_reap_json_is_json_on_failure(tmp_path):
    for command in ("status", "reap"):
        code, out, err = run_cli(command, "--json", str(tmp_path / "missing.json"))
        assert code == 2 and "cannot read" in err
        doc = json.loads(out)
        assert doc["exit_status"] == 2 and "cannot read" in doc["error"]
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(config(typo=1)))
        code, out, _ = run_cli(command, "--json", str(path))
        assert code == 1 and "typo" in json.loads(out)["error"]


def unreachable_cloud(tmp_path: Path) -> Path:
    """A clouds.yaml whose Keystone is a closed port on this machine: keystoneauth logs warnings."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  down:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n      username: u\n"
                      "      password: p\n      project_name: p\n      user_domain_name: Default\n"
                      "      project_domain_name: Default\n    region_name: RegionOne\n")
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(config(cloud="down", clouds_config=str(clouds), retry_budget="0",
                                      credentials={"state_dir": str(tmp_path / "state")})))
    return path


def test_library_log_lines_only_with_verbose(tmp_path):
    path = unreachable_cloud(tmp_path)
    exe = plugin_executable()
    for argv in (["validate", "--check-cloud", str(path)], ["status", str(path)]):
        done = subprocess.run([exe, *argv], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "Failed to discover available identity versions" not in done.stderr + done.stdout
        assert "cannot authenticate to cloud down" in done.stderr + done.stdout
        verbose = subprocess.run([exe, *argv, "-v"], capture_output=True, text=True, timeout=120)
        assert "Failed to discover available identity versions" in verbose.stderr


def test_no_clouds_yaml_lists_the_paths_searched(tmp_path):
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(config(cloud="nowhere", credentials={"state_dir": str(tmp_path / "state")})))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    done = subprocess.run([plugin_executable(), "validate", "--check-cloud", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "no clouds.yaml found; searched: " in done.stdout
    assert f"{tmp_path}/clouds.yaml" in done.stdout and f"{tmp_path}/.config/openstack/clouds.yaml" in done.stdout
    assert "set clouds_config" in done.stdout


def test_protocol_output_and_exit_status_agree(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("root:x:0:0:root:/root:/bin/bash\n")
    exe = plugin_executable()
    done = subprocess.run([exe, "protocol", str(plain)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "problems:  none" not in done.stdout and "  - " + str(plain) + ": no fleeting service" in done.stdout
    as_json = subprocess.run([exe, "protocol", str(plain), "--json"], capture_output=True, text=True, timeout=60)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["problems"]
    helped = subprocess.run([exe, "protocol", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "exit status:" in helped.stdout and "  2  usage error" in helped.stdout


# -- item 5: render-user-data offline ------------------------------------------------------------

def test_render_user_data_offline_from_a_plugin_config_json(tmp_path):
    """No login user in a plugin_config JSON (--username gives it); the clouds.yaml is not needed
    offline; --instance-name is checked against the template and its index is used."""
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(config(clouds_config=str(tmp_path / "unreadable-clouds.yaml"), cloud="c",
                                      server_spec=dict(SPEC, user_data="#cloud-config\nhostname: "
                                                       "n{{fleeting.index}}\n"))))
    code, _, err = run_cli("render-user-data", str(path))
    assert code == 1 and "--username" in err
    code, out, err = run_cli("render-user-data", str(path), "--username", "bob", "--instance-name", "g-42")
    assert code == 0, err
    assert "hostname: n42" in out and "- name: bob" in out
    code, _, err = run_cli("render-user-data", str(path), "--username", "bob", "--instance-name", "other-42")
    assert code == 2 and "'g-7'" in err and "server_spec.name" in err
    # validate still reports the clouds.yaml: render-user-data only does not need it
    assert run_cli("validate", str(path))[0] == 1
