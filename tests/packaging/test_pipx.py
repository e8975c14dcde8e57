"""Install as a Python tool: ``pipx install`` and ``pipx inject`` of a strategy.

pipx (``pipx`` on PATH, e.g. Debian's; else pipx from PyPI in a venv cached
under ``$FLEETING_PIPX_CACHE``, default ``/var/tmp/fleeting-pipx``) installs
the plugin from a copy of this work tree into a temporary PIPX_HOME and
PIPX_BIN_DIR. Then:

* ``fleeting-plugin-openstack`` is found on PATH in PIPX_BIN_DIR, and
  ``--version`` reports the package's version;
* a runner config.toml with ``plugin = "fleeting-plugin-openstack"`` and
  ``strategy = "acme-os"`` is refused (no such strategy) ...
* ... until ``pipx inject`` adds a tiny third-party strategy package, built
  here from its own pyproject that registers an entry point in the group
  ``fleeting_openstack.strategies`` (docs/strategies.md); then it validates.

Needs network access to PyPI (or a warm pip cache). It fails, never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from project import package_version

ROOT = Path(__file__).resolve().parents[2]
NAME = "fleeting-plugin-openstack"
CACHE = Path(os.environ.get("FLEETING_PIPX_CACHE", "/var/tmp/fleeting-pipx"))

STRATEGY_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-fleeting-strategy"
version = "1.2.3"
description = "A third-party boot strategy for fleeting-plugin-openstack (test)"
requires-python = ">=3.11"

[project.entry-points."fleeting_openstack.strategies"]
acme = "acme_fleeting"

[tool.setuptools]
py-modules = ["acme_fleeting"]
"""

STRATEGY_MODULE = '''\
"""The example strategy of docs/strategies.md."""

from fleeting_openstack.plugin import ReadinessResult, UserDataError, hookimpl


class AcmeOSStrategy:
    @hookimpl
    def fleeting_check_config(self, user_data, options):
        errors = [f"option {k!r} is not known to strategy 'acme-os'" for k in options if k != "channel"]
        if user_data and not user_data.startswith("acme:"):
            errors.append("user_data must start with 'acme:'")
        return errors

    @hookimpl
    def fleeting_default_username(self, image):
        return image.os_admin_user or "acme"

    @hookimpl
    def fleeting_build_user_data(self, ctx):
        return ctx.user_data or "acme:\\n"

    @hookimpl
    def fleeting_inject_credentials(self, user_data, credentials):
        if credentials.password:
            raise UserDataError("acme-os takes keys only")
        return f"{user_data}authorized_key {credentials.username} {credentials.public_key_openssh}\\n"

    @hookimpl
    def fleeting_readiness(self, observation):
        if "ACME READY" in (observation.console_tail or ""):
            return ReadinessResult.ready("ACME READY seen")
        return ReadinessResult.waiting("no ACME READY yet")


@hookimpl
def fleeting_register_strategies(registry):
    registry.add("acme-os", AcmeOSStrategy())
'''

CONFIG_TOML = """\
concurrent = 1

[[runners]]
name = "pipx"
url = "https://gitlab.example.com"
token = "glrt-x"
executor = "docker-autoscaler"

[runners.autoscaler]
plugin = "fleeting-plugin-openstack"
capacity_per_instance = 1
max_instances = 2

[runners.autoscaler.plugin_config]
cloud = "runner"   # clouds_config left to openstacksdk's search path: validate reads a configured one
name = "pipx-group"
strategy = "acme-os"
strategy_options = { channel = "stable" }

[runners.autoscaler.plugin_config.server_spec]
name = "pipx-%d"
imageRef = "d5460af5-83f3-47d7-9c4f-80294c66b267"
flavorRef = "4e9d4fa4-a703-4850-8bc1-58b5e139ab57"
networks = [ { uuid = "f05e7f64-9e0f-4c5c-acb0-b636000d7301" } ]
"""


def pipx_command() -> list[str]:
    found = shutil.which("pipx")
    if found:
        return [found]
    venv = CACHE / "tool"
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-m", "pipx", "--version"], capture_output=True) if python.exists() else None
    if probe is None or probe.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "pipx"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"pip install pipx failed (PyPI is needed):\n{proc.stderr[-3000:]}"
    return [str(python), "-m", "pipx"]


def copy_work_tree(dest: Path) -> Path:
    """The project as a fresh clone has it (plus uncommitted files), so the
    build's build/ and *.egg-info never land in the repository."""
    proc = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          capture_output=True, check=True)
    for rel in filter(None, proc.stdout.decode().split("\0")):
        src = ROOT / rel
        if "__pycache__" in src.parts or rel.startswith(("dist/", "build/")) or not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def pipx_env(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pipx")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIPX_HOME=str(base / "home"), PIPX_BIN_DIR=str(base / "bin"), PIPX_MAN_DIR=str(base / "man"),
               PIPX_DEFAULT_PYTHON=sys.executable, PIP_DISABLE_PIP_VERSION_CHECK="1")
    # The plugin's own venv (.venv/bin under scripts/test) must not answer for it.
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and not (Path(p) / NAME).exists()]
    env["PATH"] = os.pathsep.join([env["PIPX_BIN_DIR"], *path])
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_pipx_install_and_inject_strategy(pipx_env, tmp_path) -> None:
    pipx = pipx_command()
    source = copy_work_tree(tmp_path / "src")
    proc = run([*pipx, "install", str(source)], pipx_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # On PATH, from PIPX_BIN_DIR.
    found = shutil.which(NAME, path=pipx_env["PATH"])
    assert found == str(Path(pipx_env["PIPX_BIN_DIR"]) / NAME), found
    proc = run([NAME, "--version"], pipx_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fields = dict(line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
    assert fields["Version"].strip() == package_version(), proc.stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fields["Built"].strip()), proc.stdout  # build_hooks.py
    # It runs in pipx's venv, not in the interpreter running this test.
    assert Path(found).resolve().is_relative_to(Path(pipx_env["PIPX_HOME"]).resolve()), found

    config = tmp_path / "config.toml"
    config.write_text(CONFIG_TOML)
    proc = run([NAME, "validate", str(config)], pipx_env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "unknown boot strategy 'acme-os'" in proc.stdout, proc.stdout

    # A third-party strategy package, injected into the same environment.
    strategy = tmp_path / "acme-fleeting-strategy"
    strategy.mkdir()
    (strategy / "pyproject.toml").write_text(STRATEGY_PYPROJECT)
    (strategy / "acme_fleeting.py").write_text(STRATEGY_MODULE)
    proc = run([*pipx, "inject", NAME, str(strategy)], pipx_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    proc = run([NAME, "validate", str(config)], pipx_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout
    # A bad option reaches the strategy's own check.
    config.write_text(CONFIG_TOML.replace('channel = "stable"', 'chanel = "stable"'))
    proc = run([NAME, "validate", str(config)], pipx_env, cwd=tmp_path)
    assert proc.returncode == 1 and "option 'chanel' is not known to strategy 'acme-os'" in proc.stdout, proc.stdout

    # If the plugin has a `plugins` command by now, it lists the injected package.
    help_text = run([NAME, "--help"], pipx_env, cwd=tmp_path).stdout
    if "plugins" in help_text.split():
        proc = run([NAME, "plugins"], pipx_env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "acme-os" in proc.stdout, proc.stdout

    proc = run([*pipx, "uninstall", NAME], pipx_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert shutil.which(NAME, path=pipx_env["PIPX_BIN_DIR"]) is None
