"""The command line as people and the runner's installer use it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fleeting_openstack import __version__, cli

FIELDS = ["Name", "Version", "Git revision", "Git ref", "Python version", "Built", "OS/Arch"]


@pytest.mark.parametrize("flag", ["version", "--version", "-version"])
def test_version_block(flag, tmp_path):
    out = subprocess.run([sys.executable, "-m", "fleeting_openstack.cli", flag], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    rows = dict(line.split(":", 1) for line in out.splitlines())
    assert list(rows) == FIELDS
    assert rows["Name"].strip() == "fleeting-plugin-openstack"
    assert rows["Version"].strip() == __version__
    assert rows["OS/Arch"].strip().startswith("linux/")


def test_escape_module_path():
    assert cli._escape_module_path("ghcr.io/SardinaSystems/plugin") == "ghcr.io/!sardina!systems/plugin"


def test_bootstrap_installs_into_fleeting_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEETING_PLUGIN_PATH", str(tmp_path))
    monkeypatch.setenv("FLEETING_PLUGIN_PKG_VERSION", "1.2.3")
    exe = tmp_path / "src-plugin"
    exe.write_text("#!/bin/sh\necho hi\n")
    monkeypatch.setattr(sys, "argv", [str(exe)])
    assert cli.main(["bootstrap", "registry.example.com/Group/fleeting-plugin-openstack"]) == 0
    dest = tmp_path / "registry.example.com/!group/fleeting-plugin-openstack/1.2.3/plugin"
    assert dest.read_text() == exe.read_text()
    assert os.access(dest, os.X_OK)


def test_unknown_command_is_usage_error(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
