"""Issue 10 item 4: ``python -m fleeting_openstack`` runs from a source checkout, with the tree's schema
and built-in strategies (not an installed copy's), while an installed copy is left as it is."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from project import ROOT

TREE_ONLY_STRATEGY = '''
from typing import Any
from fleeting_openstack.plugin import hookimpl


class TreeOnly:
    name = "tree-only"


@hookimpl
def fleeting_register_strategies(registry: Any) -> None:
    registry.add("tree-only", TreeOnly())
'''


def _checkout(tmp_path: Path) -> Path:
    """A copy of the checkout with a strategy and a schema rule that only the tree has."""
    tree = tmp_path / "checkout"
    for part in ("fleeting_openstack", "strategies", "schemas"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__", "_build_info.py"))
    (tree / "strategies" / "tree_only.py").write_text(TREE_ONLY_STRATEGY)
    pyproject = (ROOT / "pyproject.toml").read_text()
    group = '[project.entry-points."fleeting_openstack.strategies"]\n'
    assert group in pyproject
    (tree / "pyproject.toml").write_text(
        pyproject.replace(group, group + 'tree-only = "fleeting_openstack_strategies.tree_only"\n'))
    schema_path = tree / "schemas" / "plugin_config.schema.json"
    schema = json.loads(schema_path.read_text())
    schema["properties"]["name"]["pattern"] = "^[a-z]{1,5}$"
    schema["properties"]["name"]["errorMessage"] = "tree-schema-marker"
    schema_path.write_text(json.dumps(schema))
    return tree


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    return subprocess.run([sys.executable, "-m", "fleeting_openstack", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_m_from_a_checkout_uses_the_trees_schema_and_strategies(tmp_path: Path) -> None:
    tree = _checkout(tmp_path)
    config = json.loads((ROOT / "examples" / "plugin_config.json").read_text())
    config["name"] = "longer-than-five"
    (tmp_path / "config.json").write_text(json.dumps(config))

    plugins = _run(["plugins", "--json"], tree)
    assert plugins.returncode == 0, plugins.stderr
    assert "tree-only" in json.loads(plugins.stdout)["strategies"]
    assert {"cloud-init", "ignition", "flatcar", "custom"} <= set(json.loads(plugins.stdout)["strategies"])

    checked = _run(["validate", str(tmp_path / "config.json")], tree)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert re.search(r"\bname\b.*tree-schema-marker", checked.stdout + checked.stderr)

    version = _run(["--version"], tree)
    assert version.returncode == 0 and "fleeting-plugin-openstack" in version.stdout


def test_an_installed_copy_ignores_any_checkout(tmp_path: Path) -> None:
    """From elsewhere, ``python -m`` runs the installed copy: its own schema and strategies only."""
    _checkout(tmp_path)
    config = json.loads((ROOT / "examples" / "plugin_config.json").read_text())
    config["name"] = "longer-than-five"
    (tmp_path / "config.json").write_text(json.dumps(config))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plugins = _run(["plugins", "--json"], elsewhere)
    assert plugins.returncode == 0, plugins.stderr
    assert "tree-only" not in json.loads(plugins.stdout)["strategies"]
    checked = _run(["validate", str(tmp_path / "config.json")], elsewhere)
    assert checked.returncode == 0, checked.stdout + checked.stderr
