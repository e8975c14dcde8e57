"""Every module of fleeting_openstack/provider (resources/ included) is imported by a unit test file of
tests/unit/provider: a module nobody imports there has no unit test of its own (issue 18 item 6)."""

from __future__ import annotations

import ast
from pathlib import Path

import fleeting_openstack.provider as provider

HERE = Path(__file__).parent
ROOT = Path(provider.__file__).parent


def dotted(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(dotted(p) for p in ROOT.rglob("*.py"))


def imported_by(test_file: Path) -> set[str]:
    """The modules a test file imports: ``import a.b`` gives a.b; ``from a.b import c`` gives a.b and a.b.c
    (``c`` may be a module or a name: only names that are modules match MODULES)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(test_file.read_text(), str(test_file))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_modules_are_found():
    assert "fleeting_openstack.provider.group" in MODULES
    assert "fleeting_openstack.provider.resources.ports" in MODULES
    assert len(MODULES) >= 30, MODULES


def test_imports_are_read_from_the_code_not_the_text(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text('"""fleeting_openstack.provider.probe"""\n'
                      "import fleeting_openstack.provider.keys\n"
                      "from fleeting_openstack.provider.resources import ports, kind as k\n"
                      "def f():\n    from fleeting_openstack.provider.access import Access\n")
    assert imported_by(sample) == {
        "fleeting_openstack.provider.keys", "fleeting_openstack.provider.resources",
        "fleeting_openstack.provider.resources.ports", "fleeting_openstack.provider.resources.kind",
        "fleeting_openstack.provider.access", "fleeting_openstack.provider.access.Access"}


def test_every_provider_module_is_imported_by_a_provider_unit_test():
    imported: set[str] = set()
    for test_file in sorted(HERE.glob("test_*.py")):
        imported |= imported_by(test_file)
    assert [m for m in MODULES if m not in imported] == []
