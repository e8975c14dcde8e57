"""``fleeting_openstack.plugin`` is the one import a strategy needs.

The built-in strategies are registered exactly like a third-party package's,
so they may use nothing a third-party author cannot: from this project they
import ``fleeting_openstack.plugin`` and nothing else. The same holds for the
examples in docs/strategies.md. And the public face exports what it lists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fleeting_openstack.plugin as plugin
import fleeting_openstack_strategies

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = "fleeting_openstack.plugin"


def foreign_imports(source: str) -> list[str]:
    """Modules of this project other than the public face that ``source`` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if (n == "fleeting_openstack" or n.startswith("fleeting_openstack.")) and n != PUBLIC]
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
        assert foreign_imports(block) == [], block


def test_public_face_exports_what_it_lists():
    assert sorted(plugin.__all__) == sorted(set(plugin.__all__))
    missing = [name for name in plugin.__all__ if not hasattr(plugin, name)]
    assert missing == []
    # everything a hook sees or raises, and the marker
    from fleeting_openstack.plugin import types

    for name in [*types.__all__, "hookimpl", "StrategyRegistry", "StrategyManager", "TemplateError"]:
        assert name in plugin.__all__, name
