"""``fleeting_openstack.plugin`` is the one import a strategy needs.

The built-in strategies are registered exactly like a third-party package's,
so they may use nothing a third-party author cannot: from this project they
import ``fleeting_openstack.plugin`` and nothing else. The same holds for the
examples in docs/strategies.md. The public face exports what it lists, and
importing it (or any built-in strategy) loads no OpenStack code and none of the
host, config or provider.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fleeting_openstack.plugin as plugin
import fleeting_openstack_strategies
from project import ROOT

PUBLIC = "fleeting_openstack.plugin"


def foreign_imports(source: str, allowed: tuple[str, ...] = (PUBLIC,)) -> list[str]:
    """Modules of this project other than ``allowed`` (the public face) that ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if (n == "fleeting_openstack" or n.startswith("fleeting_openstack.")) and n not in allowed]
    return found


def test_the_check_catches_internal_imports():
    assert foreign_imports("from fleeting_openstack.plugin.types import ImageInfo\n") == [
        "fleeting_openstack.plugin.types"
    ]
    assert foreign_imports("import fleeting_openstack.provider.keys\n") == ["fleeting_openstack.provider.keys"]
    assert foreign_imports("from fleeting_openstack import plugin\n") == ["fleeting_openstack"]
    assert foreign_imports("from fleeting_openstack.plugin import hookimpl\nfrom ._common import x\n") == []


def _strategy_sources() -> list[Path]:
    # the checkout's strategies/ and the installed copy the tests run against
    files = sorted((ROOT / "strategies").glob("*.py"))
    files += sorted(Path(fleeting_openstack_strategies.__file__).parent.glob("*.py"))
    assert len(files) >= 10, files  # both copies of the package and its five modules
    return files


@pytest.mark.parametrize("path", _strategy_sources(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_builtin_strategy_imports_only_the_public_face(path):
    assert foreign_imports(path.read_text()) == [], f"{path}: import these names from {PUBLIC}"


def test_strategy_guide_examples_import_only_the_public_face():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "strategies.md").read_text(), re.DOTALL)
    importing = [b for b in blocks if "fleeting_openstack" in b]
    assert len(importing) >= 3, "the guide's examples were expected to import the plugin package"
    for block in importing:
        # a strategy's own tests may load the host's StrategyManager, and nothing else of it
        allowed = (PUBLIC, "fleeting_openstack.host") if "StrategyManager" in block else (PUBLIC,)
        assert foreign_imports(block, allowed) == [], block
        assert re.findall(r"from fleeting_openstack\.host import (.*)", block) in ([], ["StrategyManager  # the host, for tests only"])


def test_public_face_exports_what_it_lists():
    assert sorted(plugin.__all__) == sorted(set(plugin.__all__))
    missing = [name for name in plugin.__all__ if not hasattr(plugin, name)]
    assert missing == []
    # everything a hook sees or raises, and the marker
    from fleeting_openstack.plugin import types

    for name in [*types.__all__, "hookimpl", "StrategyRegistry", "TemplateError", "JSONValue", "JSONObject"]:
        assert name in plugin.__all__, name
    # the machinery is the host's, not the face's
    for name in ("StrategyManager", "BoundStrategy", "default_manager", "PluginLoadError"):
        assert name not in plugin.__all__, name


# What a fresh interpreter has loaded after importing `module`, of this project and of openstacksdk.
LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("fleeting_openstack", "fleeting_openstack_strategies", "openstack"))))
"""
# Not loaded by the face or a strategy: OpenStack (the SDK and the adapter) and every layer above the face.
FORBIDDEN = ("openstack", "fleeting_openstack.openstack", "fleeting_openstack.host", "fleeting_openstack.config",
             "fleeting_openstack.provider", "fleeting_openstack.cli", "fleeting_openstack.transport",
             "fleeting_openstack.contract")


def loaded_by(module: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", LOADED, module], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_the_sys_modules_check_sees_what_is_loaded():
    # the check can fail: the host loads the face and itself, the adapter openstacksdk
    assert "fleeting_openstack.host.manager" in forbidden(loaded_by("fleeting_openstack.host"))
    assert forbidden(["openstack.connection", "openstackx", "fleeting_openstack.plugin"]) == ["openstack.connection"]


def test_importing_the_face_loads_no_openstack_and_no_host():
    loaded = loaded_by(PUBLIC)
    assert PUBLIC in loaded
    assert forbidden(loaded) == []
    assert beyond_the_face(loaded) == set(), loaded


LEAVES = {"fleeting_openstack", "fleeting_openstack.jsontypes", "fleeting_openstack.userdata_limit"}


def beyond_the_face(modules: list[str]) -> set[str]:
    """Modules of the package other than the face and the leaf modules it may import."""
    return {m for m in modules if m.split(".")[0] == "fleeting_openstack" and not m.startswith(PUBLIC)} - LEAVES


BUILTIN_MODULES = sorted(
    f"fleeting_openstack_strategies.{p.stem}" for p in Path(fleeting_openstack_strategies.__file__).parent.glob("*.py")
    if p.stem != "__init__"
)


@pytest.mark.parametrize("module", BUILTIN_MODULES)
def test_importing_a_builtin_strategy_loads_only_the_face(module):
    assert len(BUILTIN_MODULES) >= 5
    loaded = loaded_by(module)
    assert module in loaded
    assert forbidden(loaded) == []
    assert beyond_the_face(loaded) == set(), loaded
