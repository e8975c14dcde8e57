"""The command line as people and the runner's installer use it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from fleeting_openstack import __version__
from fleeting_openstack.cli import bootstrap
from fleeting_openstack.cli import main as cli

FIELDS = ["Name", "Version", "Git revision", "Git ref", "Python version", "Built", "OS/Arch"]


@pytest.mark.parametrize("flag", ["version", "--version", "-version"])
def test_version_block(flag, tmp_path):
    out = subprocess.run([sys.executable, "-m", "fleeting_openstack.cli.main", flag], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    rows = dict(line.split(":", 1) for line in out.splitlines())
    assert list(rows) == FIELDS
    assert rows["Name"].strip() == "fleeting-plugin-openstack"
    assert rows["Version"].strip() == __version__
    assert rows["OS/Arch"].strip().startswith("linux/")


def test_escape_module_path():
    assert bootstrap.escape_module_path("ghcr.io/SardinaSystems/plugin") == "ghcr.io/!sardina!systems/plugin"


def test_bootstrap_installs_into_fleeting_layout(tmp_path, monkeypatch, capsys):
    """As fleeting's plugin.Main: every file beside the executable, into <plugins>/<repo>/<version>/."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(plugins))
    monkeypatch.delenv("FLEETING_PLUGIN_PKG_VERSION", raising=False)
    src = tmp_path / "src"
    src.mkdir()
    exe = src / "plugin"
    exe.write_text("#!/bin/sh\necho hi\n")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(exe)])
    assert cli.main(["bootstrap", "registry.example.com/Group/fleeting-plugin-openstack"]) == 0
    dest = plugins / "registry.example.com/!group/fleeting-plugin-openstack" / __version__
    assert capsys.readouterr().out == f"{dest}\n"
    assert (dest / "plugin").read_text() == exe.read_text()
    assert os.access(dest / "plugin", os.X_OK)
    # bootstrapped already: kept as it is
    (dest / "plugin").write_text("older")
    assert cli.main(["bootstrap", "registry.example.com/Group/fleeting-plugin-openstack"]) == 0
    assert (dest / "plugin").read_text() == "older"


@pytest.mark.parametrize(("repo", "where"), [
    ("aws", "registry.gitlab.com/gitlab-org/fleeting/plugins/aws"),
    ("myorg/MyPlugin:1.2.3", "registry.gitlab.com/myorg/!my!plugin"),
    ("example.com/a/b:tag", "example.com/a/b"),
    ("/abs/path", "registry.gitlab.com/abs/path"),
])
def test_bootstrap_completes_the_repository_as_fleeting(repo, where):
    assert bootstrap.escape_path(bootstrap.normalize_repo(repo)) == where


def test_bootstrap_version_rules(tmp_path, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(plugins))
    monkeypatch.setattr(bootstrap, "copy_to_plugin_dir", lambda *a: None)
    err = io.StringIO()
    monkeypatch.delenv("FLEETING_PLUGIN_PKG_VERSION", raising=False)
    assert bootstrap.bootstrap("aws", "v2.0.0", err=err).endswith("/aws/2.0.0")
    assert bootstrap.bootstrap("aws", "dev", "2026-01-02T03:04:05Z", "abc123", err).endswith(
        "/aws/0.0.0-20260102030405-abc123")
    monkeypatch.setenv("FLEETING_PLUGIN_PKG_VERSION", "1.2.3")
    assert bootstrap.bootstrap("aws", "dev", err=err).endswith("/aws/1.2.3")  # only when not X.Y.Z
    assert bootstrap.bootstrap("aws", "0.1.0", err=err).endswith("/aws/0.1.0")
    assert 'differ: "1.2.3" != "0.1.0"' in err.getvalue()


def test_bootstrap_needs_an_existing_plugin_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(tmp_path / "missing"))
    code, out, _ = run_cli("bootstrap", "aws")
    assert code == 1 and out == f"plugin directory {tmp_path / 'missing'} doesn't exist\n"
    assert not (tmp_path / "missing").exists()


def test_unknown_command_is_usage_error(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


# -- one argparse tree ----------------------------------------------------------------------

from fleeting_openstack.cli import parser as cmdline
from fleeting_openstack.cli import completion  # noqa: E402
from installed import plugin_executable, run_cli

COMMANDS = sorted(set(cmdline.subcommands(cmdline.build_parser())) - {"protocol"})  # protocol: its own parser
PLUGIN_BIN = plugin_executable()


def test_the_tree_has_every_command():
    assert {"version", "bootstrap", "validate", "status", "reap", "plugins", "render-user-data",
            "completion", "protocol", "help"} <= set(cmdline.subcommands(cmdline.build_parser()))


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_and_does_nothing(command, flag, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(tmp_path / "plugins"))
    code, out, err = run_cli(command, flag)
    assert code == 0, err
    assert out.startswith(f"usage: fleeting-plugin-openstack {command}"), out
    assert "exit status" in out and err == ""
    assert not (tmp_path / "plugins").exists()  # bootstrap --help installed nothing


def test_bootstrap_help_through_the_installed_executable_installs_nothing(tmp_path):
    env = dict(os.environ, FLEETING_PLUGIN_PATH=str(tmp_path))
    env.pop(cli.MAGIC_COOKIE_KEY, None)
    for flag in ("--help", "-h"):
        done = subprocess.run([PLUGIN_BIN, "bootstrap", flag], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "REPOSITORY" in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["../../../x", "registry.example.com/../../x", "registry.example.com/a/..",
                                 "registry.example.com/./a", "registry.example.com//a", "localhost:5000/group/p",
                                 "registry.example.com/a b", "registry.example.com/a/", "Registry.example.com/a"])
def test_bootstrap_refuses_what_go_module_paths_refuse(bad, tmp_path, monkeypatch):
    root = tmp_path / "plugins"
    root.mkdir()
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(root))
    code, out, err = run_cli("bootstrap", bad)
    assert code == 1, (out, err)
    assert out.startswith("escaping plugin path: malformed module path"), out
    assert list(root.iterdir()) == []


def test_bare_invocation_by_hand_prints_go_plugin_text_and_points_at_help(tmp_path):
    from fleeting_openstack.transport.goplugin import NOT_A_PROGRAM

    env = {k: v for k, v in os.environ.items() if k != cli.MAGIC_COOKIE_KEY}
    done = subprocess.run([PLUGIN_BIN], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [NOT_A_PROGRAM, cli.HELP_HINT]
    assert "--help" in cli.HELP_HINT


def test_no_command_prints_the_help(tmp_path):
    code, out, _ = run_cli("--version")
    assert code == 0 and "Git revision:" in out
    code, out, _ = run_cli("help", "status")
    assert code == 0 and out.startswith("usage: fleeting-plugin-openstack status")
    assert run_cli("help", "nope")[0] == 2


# -- one exit-code scheme ---------------------------------------------------------------------

INVALID = {"name": "g", "typo_key": 1, "server_spec": {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267",
                                                      "flavorRef": "f", "networks": "none"}}
RUNNER_TOML = """[[runners]]
name = "only"
executor = "docker-autoscaler"
[runners.autoscaler]
plugin = "fleeting-plugin-openstack"
[runners.autoscaler.plugin_config]
name = "g"
typo_key = 1
[runners.autoscaler.plugin_config.server_spec]
name = "g-%d"
imageRef = "d5460af5-83f3-47d7-9c4f-80294c66b267"
flavorRef = "f"
networks = "none"
"""
PATH_COMMANDS = ["validate", "status", "reap", "render-user-data", "plugins"]


@pytest.mark.parametrize("command", PATH_COMMANDS)
def test_exit_codes_are_the_same_for_every_command(command, tmp_path):
    import json

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(INVALID))
    toml = tmp_path / "config.toml"
    toml.write_text(RUNNER_TOML)
    # 1: problems found (the same invalid config)
    code, _, err = run_cli(command, str(bad))
    assert code == cmdline.EXIT_PROBLEMS == 1, err
    assert "typo_key" in err + run_cli("validate", str(bad))[1]
    assert run_cli(command, str(toml))[0] == 1
    # 2: usage error or cannot run
    assert run_cli(command, str(tmp_path / "missing.json"))[0] == 2
    assert run_cli(command, str(bad), "--no-such-flag")[0] == 2
    code, _, err = run_cli(command, str(toml), "--runner", "nope")
    assert code == 2 and "nope" in err
    assert run_cli(command, str(bad), "--runner", "x")[0] == 2  # --runner needs a config.toml


def test_every_command_that_reads_a_config_has_runner():
    subs = cmdline.subcommands(cmdline.build_parser())
    for name, sub in subs.items():
        dests = {a.dest for a in sub._actions}
        if "path" in dests:
            assert "runner" in dests, name


def test_exit_codes_are_documented():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "README.md").read_text()
    for code, meaning in cmdline.EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in text, (code, meaning)


# -- shell completion ---------------------------------------------------------------------------

def _complete(script: str, words: list[str], tmp_path) -> list[str]:
    path = tmp_path / "completion.bash"
    path.write_text(script)
    line = " ".join(words)
    program = (f"source {path}\nCOMP_WORDS=({line})\nCOMP_CWORD={len(words) - 1}\n"
               "_fleeting_plugin_openstack\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completion_is_generated_from_the_parser(tmp_path):
    parser = cmdline.build_parser()
    script = completion.script("bash", parser)
    subs = cmdline.subcommands(parser)
    assert sorted(_complete(script, ["fleeting-plugin-openstack", "''"], tmp_path)) == sorted(subs)
    assert _complete(script, ["fleeting-plugin-openstack", "re"], tmp_path) == ["reap", "render-user-data"]
    for name, sub in subs.items():
        flags = {o for a in sub._actions for o in a.option_strings}
        got = set(_complete(script, ["fleeting-plugin-openstack", name, "-"], tmp_path))
        assert got == flags, name
    assert _complete(script, ["fleeting-plugin-openstack", "completion", "''"], tmp_path) == ["bash", "zsh"]
    (tmp_path / "config.toml").write_text("")
    assert _complete(script, ["fleeting-plugin-openstack", "status", "conf"], tmp_path) == ["config.toml"]
    assert _complete(script, ["fleeting-plugin-openstack", "status", "--runner", "''"], tmp_path) == []


def test_zsh_completion_is_the_same_function_through_bashcompinit():
    parser = cmdline.build_parser()
    zsh, bash = completion.script("zsh", parser), completion.script("bash", parser)
    assert zsh.startswith("#compdef fleeting-plugin-openstack\n")
    assert "bashcompinit" in zsh and bash.split("\n", 2)[2] in zsh
    code, out, _ = run_cli("completion", "zsh")
    assert code == 0 and out == zsh


# -- protocol -------------------------------------------------------------------------------------

def test_protocol_has_its_own_arguments_and_help(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != cli.MAGIC_COOKIE_KEY}
    done = subprocess.run([PLUGIN_BIN, "protocol", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "BINARY" in done.stdout and "--json" in done.stdout
    done = subprocess.run([PLUGIN_BIN, "protocol", str(tmp_path / "missing")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_build_info_line_has_fleetings_shape_and_the_version_block_facts():
    # fleeting's VersionInfo.BuildInfo(): "sha=...; ref=...; go=...; built_at=...; os_arch=.../..."
    import re

    from fleeting_openstack import buildinfo

    line = buildinfo.one_line()
    match = re.fullmatch(r"sha=(\S+); ref=(\S+); python=(\S+); built_at=(.+); os_arch=(\w+/\w+)", line)
    assert match, line
    facts = buildinfo.facts()
    assert match.group(1) == facts["revision"] and match.group(4) == facts["built"]
    assert match.group(5) == buildinfo.os_arch()
