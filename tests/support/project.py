"""Where things are in this checkout, and what pyproject.toml declares.

Tests import the plugin from where it is INSTALLED; they only read the source tree
(docs, examples, scripts, the Go module, pyproject.toml) through these paths, so a
test file's own depth in tests/ never matters."""

from __future__ import annotations

import tomllib
from pathlib import Path

#: the repository root (pyproject.toml, docs/, examples/, scripts/).
ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
#: tests/support: helpers imported by test files (on sys.path via tests/conftest.py).
SUPPORT = TESTS / "support"
#: the Go module of the conformance hosts.
CONFORMANCE = TESTS / "conformance"
#: captured serial consoles of real boots (tests/fixtures/consoles/README.md).
CONSOLES = TESTS / "fixtures" / "consoles"
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"


def package_version() -> str:
    """The version pyproject.toml declares (what the installed plugin must report)."""
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version
