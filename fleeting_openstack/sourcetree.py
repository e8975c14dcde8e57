"""Run from a source checkout: ``python -m fleeting_openstack`` in the repository root.

An installed copy finds its JSON Schema as the package ``fleeting_openstack.schemas`` and its built-in
strategies as ``fleeting_openstack_strategies`` through the entry points of its distribution's metadata;
pyproject.toml maps both from top-level directories (``schemas/``, ``strategies/``), so a bare checkout
has neither. :func:`activate` supplies them from the tree — and only when the imported
``fleeting_openstack`` *is* a checkout (a ``pyproject.toml`` naming this project beside it): an
installed copy is left untouched.

The tree's ``pyproject.toml`` is the source of the entry points while it runs from the tree, not an
installed copy's metadata (a distribution of the same name on ``sys.meta_path`` first wins, as
:func:`importlib.metadata.entry_points` keeps the first distribution of each name); so a strategy added
in the tree is seen without reinstalling. Tests keep importing the installed copy (scripts/test).
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import importlib.util
import os
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

PROJECT = "fleeting-plugin-openstack"


def checkout_root() -> Path | None:
    """The source checkout this package was imported from, or None for an installed copy."""
    root = Path(__file__).resolve().parent.parent
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != PROJECT or not (root / "schemas").is_dir() or not (root / "strategies").is_dir():
        return None
    return root


class _TreeDistribution(importlib.metadata.Distribution):
    """This project's metadata, read from the tree's pyproject.toml (name, version, entry points)."""

    def __init__(self, root: Path, project: dict[str, object]) -> None:
        self._root = root
        self._project = project

    def read_text(self, filename: str) -> str | None:
        if filename in ("METADATA", "PKG-INFO"):
            return f"Metadata-Version: 2.1\nName: {PROJECT}\nVersion: {self._project.get('version', '0')}\n"
        if filename == "entry_points.txt":
            declared = self._project.get("entry-points")
            groups: dict[str, object] = dict(declared) if isinstance(declared, dict) else {}
            scripts = self._project.get("scripts")
            if scripts:
                groups["console_scripts"] = scripts
            lines = []
            for group, entries in groups.items():
                lines.append(f"[{group}]")
                if isinstance(entries, dict):
                    lines += [f"{name} = {value}" for name, value in entries.items()]
            return "\n".join(lines) + "\n"
        return None

    def locate_file(self, path: str | os.PathLike[str]) -> Path:
        return self._root / path


class _TreeFinder(importlib.abc.MetaPathFinder):
    """Finds no modules; answers distribution queries for this project with the tree's metadata."""

    def __init__(self, dist: _TreeDistribution) -> None:
        self._dist = dist

    def find_spec(self, *args: object, **kwargs: object) -> None:
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> Iterable[importlib.metadata.Distribution]:
        name = context.name if context is not None else None
        if name is None or name.replace("_", "-").lower() == PROJECT:
            return [self._dist]
        return []


def _alias(name: str, directory: Path) -> None:
    """Import ``directory/__init__.py`` as the package ``name`` (as the installed layout names it)."""
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def activate() -> Path | None:
    """Make a checkout runnable as if installed; returns its root (None: installed copy, nothing done)."""
    root = checkout_root()
    if root is None:
        return None
    _alias("fleeting_openstack.schemas", root / "schemas")
    _alias("fleeting_openstack_strategies", root / "strategies")
    if not any(isinstance(f, _TreeFinder) for f in sys.meta_path):
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        sys.meta_path.insert(0, _TreeFinder(_TreeDistribution(root, project)))
    return root
