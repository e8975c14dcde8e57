"""Tests of fleeting_openstack.cli.validate: the `validate` subcommand."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fleeting_openstack.cli import validate as validate_mod
from fleeting_openstack.config import ConfigIssue, PluginConfig
from fleeting_openstack.cli.validate import UnreadableFileError, main, validate_path
from project import EXAMPLES

NET = "f05e7f64-9e0f-4c5c-acb0-b636000d7301"

RUNNER_OK = """
[[runners]]
name = "first"
executor = "docker-autoscaler"
[runners.autoscaler]
plugin = "fleeting-plugin-openstack"
max_instances = 5
[runners.autoscaler.plugin_config]
name = "group-a"
cloud = "runner"
[runners.autoscaler.plugin_config.server_spec]
name = "a-%d"
image_name = "flatcar"
flavor_name = "m1.large"
networks = [ { uuid = "f05e7f64-9e0f-4c5c-acb0-b636000d7301" } ]
"""

RUNNER_BAD = """
[[runners]]
name = "second"
executor = "docker-autoscaler"
[runners.autoscaler]
plugin = "ghcr.io/sardinasystems/fleeting-plugin-openstack:latest"
[runners.autoscaler.plugin_config]
name = "group-b"
boot_time = "ten minutes"
[runners.autoscaler.plugin_config.server_spec]
name = "b-%d"
imageRef = "not-a-uuid"
flavor_ref = "m1"
networks = [ { uuid = "f05e7f64-9e0f-4c5c-acb0-b636000d7301", fixedip = "10.0.0.9" } ]
"""


def run_main(*argv, check_cloud=None, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), check_cloud=check_cloud, stdout=out, stderr=err, env={} if env is None else env)
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# The seed's examples
# --------------------------------------------------------------------------

def test_seed_config_toml_validates_with_zero_errors():
    report = validate_path(EXAMPLES / "config.toml", env={})
    assert report.kind == "runner_config"
    assert report.errors == []
    assert report.warnings == []
    assert report.ok and report.exit_code == 0
    assert [(c.path, c.runner, c.config.name) for c in report.configs] == [
        ("runners[0].autoscaler.plugin_config", "manager", "scaling-runner-stack-id")]


def test_seed_plugin_config_json_validates():
    report = validate_path(EXAMPLES / "plugin_config.json", env={})
    assert report.kind == "plugin_config"
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.configs[0].path == ""
    assert report.configs[0].config.strategy == "ignition"


def test_cli_on_seed_example_exits_zero():
    code, out, err = run_main(str(EXAMPLES / "config.toml"))
    assert code == 0
    assert out.strip().endswith("valid (1 plugin_config, 0 warnings)")
    assert err == ""


# --------------------------------------------------------------------------
# config.toml with several runners
# --------------------------------------------------------------------------

def test_two_runners_each_validated_with_prefixed_paths(tmp_path):
    path = write(tmp_path, "config.toml", RUNNER_OK + RUNNER_BAD)
    report = validate_path(path, env={})
    assert not report.ok
    assert [c.path for c in report.configs] == ["runners[0].autoscaler.plugin_config"]
    p = "runners[1].autoscaler.plugin_config"
    assert sorted(e.path for e in report.errors) == sorted([
        f"{p}.boot_time", f"{p}.server_spec.imageRef", f"{p}.server_spec.flavor_ref", f"{p}.server_spec",
    ])
    by_path = {e.path: e.message for e in report.errors}
    assert "did you mean 'flavorRef'?" in by_path[f"{p}.server_spec.flavor_ref"]
    assert "must be an image UUID" in by_path[f"{p}.server_spec.imageRef"]
    assert "needs a flavor" in by_path[f"{p}.server_spec"]
    assert [w.path for w in report.warnings] == ["runners[1].autoscaler.plugin",  # names the Go plugin
                                                 f"{p}.server_spec.networks[0].fixedip",
                                                 f"{p}.server_spec.networks[0].fixed_ip"]


def test_two_valid_runners(tmp_path):
    second = RUNNER_OK.replace('"first"', '"second"').replace("group-a", "group-b")
    report = validate_path(write(tmp_path, "config.toml", RUNNER_OK + second), env={})
    assert report.ok
    assert [(c.path, c.runner, c.config.name) for c in report.configs] == [
        ("runners[0].autoscaler.plugin_config", "first", "group-a"),
        ("runners[1].autoscaler.plugin_config", "second", "group-b"),
    ]


def test_cli_reports_every_error_with_its_path(tmp_path):
    path = write(tmp_path, "config.toml", RUNNER_OK + RUNNER_BAD)
    code, out, _ = run_main(str(path))
    assert code == 1
    lines = out.splitlines()
    assert (f"{path}: runners[1].autoscaler.plugin_config.server_spec.imageRef: error: must be an image UUID "
            '(or "" when booting from a volume) (got \'not-a-uuid\')') in lines
    assert any(line.startswith(f"{path}: runners[1].autoscaler.plugin_config.server_spec.networks[0].fixedip: "
                               "warning: 'fixedip' is deprecated") for line in lines)
    assert lines[-1] == f"{path}: invalid (4 errors, 3 warnings)"


def test_cli_json_output(tmp_path):
    path = write(tmp_path, "config.toml", RUNNER_OK + RUNNER_BAD)
    code, out, _ = run_main(str(path), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False
    assert data["kind"] == "runner_config"
    assert {"path": "runners[1].autoscaler.plugin_config.boot_time",
            "message": data["errors"][0]["message"]} in data["errors"]
    assert len(data["errors"]) == 4 and len(data["warnings"]) == 3
    assert data["configs"][0]["provider_id"] == "openstack/runner/group-a"


def test_max_instances_above_max_size_warns(tmp_path):
    text = RUNNER_OK.replace("max_instances = 5", "max_instances = 50").replace(
        'cloud = "runner"', 'cloud = "runner"\nmax_size = 10')
    report = validate_path(write(tmp_path, "config.toml", text), env={})
    assert report.ok
    assert [w.path for w in report.warnings] == ["runners[0].autoscaler.max_instances"]


def test_other_plugins_are_skipped(tmp_path):
    text = RUNNER_OK + """
[[runners]]
name = "aws"
executor = "docker-autoscaler"
[runners.autoscaler]
plugin = "aws:latest"
[runners.autoscaler.plugin_config]
name = "asg"
"""
    report = validate_path(write(tmp_path, "config.toml", text), env={})
    assert report.ok
    assert [w.path for w in report.warnings] == ["runners[1].autoscaler.plugin"]
    assert len(report.configs) == 1


@pytest.mark.parametrize("text,path,fragment", [
    ('concurrent = 1\n', "runners", "no [[runners]]"),
    ('[[runners]]\nname = "shell"\nexecutor = "shell"\n', "runners", "no [[runners]] entry uses"),
    ('[[runners]]\nexecutor = "docker-autoscaler"\n', "runners[0].autoscaler", "is required"),
    ('[[runners]]\nexecutor = "docker-autoscaler"\n[runners.autoscaler]\nplugin = "fleeting-plugin-openstack"\n',
     "runners[0].autoscaler.plugin_config", "is required"),
    ('concurrent = = 1\n', "", "not valid TOML"),
])
def test_runner_config_structure_errors(tmp_path, text, path, fragment):
    report = validate_path(write(tmp_path, "config.toml", text), env={})
    assert not report.ok
    assert any(e.path == path and fragment in e.message for e in report.errors), report.errors


# --------------------------------------------------------------------------
# plugin_config JSON files, detection, unreadable files
# --------------------------------------------------------------------------

def test_invalid_plugin_config_json(tmp_path):
    doc = json.loads((EXAMPLES / "plugin_config.json").read_text())
    doc["server_spec"]["networks"][0]["uuid"] = "workers"
    doc["boot_time"] = "1x"
    path = write(tmp_path, "pc.json", json.dumps(doc))
    code, out, _ = run_main(str(path), "--json")
    assert code == 1
    paths = [e["path"] for e in json.loads(out)["errors"]]
    assert paths == ["boot_time", "server_spec.networks[0].uuid"]


def test_json_syntax_error_is_exit_1(tmp_path):
    code, out, _ = run_main(str(write(tmp_path, "pc.json", '{"name": ')))
    assert code == 1
    assert "not valid JSON" in out


@pytest.mark.parametrize("name,content,kind", [
    ("plugin_config", (EXAMPLES / "plugin_config.json").read_text(), "plugin_config"),
    ("runner.conf", (EXAMPLES / "config.toml").read_text(), "runner_config"),
])
def test_kind_detected_from_content(tmp_path, name, content, kind):
    report = validate_path(write(tmp_path, name, content), env={})
    assert report.kind == kind
    assert report.ok


def test_missing_file_is_exit_2(tmp_path):
    code, out, err = run_main(str(tmp_path / "nope.toml"))
    assert code == 2
    assert "cannot read" in err
    with pytest.raises(UnreadableFileError):
        validate_path(tmp_path / "nope.toml")


def test_non_utf8_file_is_exit_2(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00name")
    code, _, err = run_main(str(path))
    assert code == 2
    assert "not UTF-8" in err


def test_usage_error_is_exit_2():
    code, _, _ = run_main()
    assert code == 2


def test_env_overrides_apply_in_validation(tmp_path):
    report = validate_path(EXAMPLES / "config.toml", env={"OS_CLOUD": "elsewhere"})
    assert report.ok
    assert report.configs[0].config.cloud == "elsewhere"
    assert [w.path for w in report.warnings] == ["runners[0].autoscaler.plugin_config.cloud"]


# --------------------------------------------------------------------------
# --check-cloud
# --------------------------------------------------------------------------

def test_check_cloud_issues_are_prefixed_and_reported(tmp_path):
    seen: list[PluginConfig] = []

    def check(cfg: PluginConfig):
        seen.append(cfg)
        return [ConfigIssue("server_spec.image_name", "no image named 'flatcar'"),
                ConfigIssue("server_spec.flavor_name", "flavor is deprecated", "warning")]

    path = write(tmp_path, "config.toml", RUNNER_OK)
    code, out, _ = run_main(str(path), "--check-cloud", "--json", check_cloud=check)
    assert code == 1
    assert [c.name for c in seen] == ["group-a"]
    data = json.loads(out)
    assert data["errors"] == [{"path": "runners[0].autoscaler.plugin_config.server_spec.image_name",
                               "message": "no image named 'flatcar'"}]
    assert data["warnings"] == [{"path": "runners[0].autoscaler.plugin_config.server_spec.flavor_name",
                                 "message": "flavor is deprecated"}]


def test_check_cloud_not_run_without_flag_or_on_invalid_config(tmp_path):
    calls = []
    path = write(tmp_path, "config.toml", RUNNER_OK + RUNNER_BAD)
    run_main(str(path), check_cloud=lambda cfg: calls.append(cfg) or [])
    assert calls == []
    run_main(str(path), "--check-cloud", check_cloud=lambda cfg: calls.append(cfg.name) or [])
    assert calls == ["group-a"]  # the invalid second runner is not sent to the cloud


def test_check_cloud_exception_becomes_an_error(tmp_path):
    def boom(cfg):
        raise RuntimeError("auth failed")

    report = validate_path(EXAMPLES / "plugin_config.json", boom, env={})
    assert not report.ok
    assert report.errors == [ConfigIssue("", "cloud check failed: RuntimeError: auth failed")]


def test_check_cloud_unavailable_is_exit_2(monkeypatch):
    monkeypatch.setattr(validate_mod, "default_check_cloud", lambda: None)
    code, _, err = run_main(str(EXAMPLES / "config.toml"), "--check-cloud")
    assert code == 2
    assert "--check-cloud is not available" in err


# --------------------------------------------------------------------------
# --runner, and the Go plugin's name
# --------------------------------------------------------------------------

def test_runner_selects_one_runner(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER_OK + RUNNER_BAD)
    code, out, _ = run_main(str(path), "--runner", "first")
    assert code == 0 and out.strip().endswith("valid (1 plugin_config, 0 warnings)"), out
    code, out, _ = run_main(str(path), "--runner", "1")  # by index: the invalid one
    assert code == 1 and "runners[0]" not in out and "runners[1]" in out
    code, out, err = run_main(str(path), "--runner", "nope")
    assert code == 2 and out == "" and "no runner 'nope'" in err and "first" in err and "second" in err
    plugin_config = tmp_path / "pc.json"
    plugin_config.write_text((EXAMPLES / "plugin_config.json").read_text())
    code, _, err = run_main(str(plugin_config), "--runner", "first")
    assert code == 2 and "--runner applies to a runner config.toml" in err


@pytest.mark.parametrize("plugin", ["ghcr.io/sardinasystems/fleeting-plugin-openstack:latest",
                                    "github.com/SardinaSystems/fleeting-plugin-openstack"])
def test_the_go_plugins_name_is_a_warning(tmp_path, plugin):
    path = tmp_path / "config.toml"
    path.write_text(RUNNER_OK.replace('plugin = "fleeting-plugin-openstack"', f'plugin = "{plugin}"'))
    report = validate_path(path, env={})
    assert report.ok  # its plugin_config is still validated: a migration in progress
    (warning,) = report.warnings
    assert warning.path == "runners[0].autoscaler.plugin"
    assert "is the Go OpenStack plugin, not this one" in warning.message
    for own in ("fleeting-plugin-openstack", "registry.example.com/ci/fleeting-plugin-openstack"):
        path.write_text(RUNNER_OK.replace('plugin = "fleeting-plugin-openstack"', f'plugin = "{own}"'))
        assert validate_path(path, env={}).warnings == []
