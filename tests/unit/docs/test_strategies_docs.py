"""Every hook is specified properly, tested and documented (datasette-style).

Adding a hook to fleeting_openstack/plugin/hookspecs.py without a test that
mentions it, a section in docs/strategies.md, or :param: lines for its
arguments fails here (and without its typed method on the host,
fleeting_openstack/host/hooks.py, in tests/unit/host/test_hooks.py).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from fleeting_openstack.plugin import hookspecs
from project import ROOT

DOC = ROOT / "docs" / "strategies.md"
SPEC_MARK = f"{hookspecs.PROJECT_NAME}_spec"


def hook_specs() -> dict[str, object]:
    specs = {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, SPEC_MARK)}
    assert specs, "no hookspecs found"
    return specs


HOOKS = sorted(hook_specs())


def test_every_hook_has_the_prefix():
    assert all(name.startswith("fleeting_") for name in HOOKS), HOOKS
    # and nothing looks like a hook without being marked as one
    unmarked = [n for n, f in vars(hookspecs).items() if n.startswith("fleeting_") and callable(f) and n not in HOOKS]
    assert unmarked == []


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    me = Path(__file__).name
    tests = [p for p in (ROOT / "tests").rglob("test_*.py") if p.name != me]
    assert any(re.search(rf"\b{hook}\b", p.read_text()) for p in tests), f"no test mentions {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    assert re.search(rf"^### `{hook}\(", DOC.read_text(), re.MULTILINE), f"docs/strategies.md has no section '### `{hook}(...)`'"


@pytest.mark.parametrize("hook", HOOKS)
def test_hookspec_docstring_documents_arguments_and_call_semantics(hook):
    fn = hook_specs()[hook]
    doc = inspect.getdoc(fn) or ""
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{hook}: argument {arg!r} has no :param: line"
    opts = getattr(fn, SPEC_MARK)
    if opts["firstresult"]:
        assert "firstresult:" in doc, f"{hook}: say why it is firstresult"
    elif opts["historic"]:
        assert "Historic:" in doc, f"{hook}: say why it is historic"
    else:
        assert "Chained" in doc or "Not firstresult" in doc, f"{hook}: say why every impl is called"
    assert inspect.signature(fn).return_annotation is not inspect.Signature.empty, f"{hook}: annotate the return type"


def test_documented_hooks_exist():
    documented = re.findall(r"^### `(fleeting_\w+)\(", DOC.read_text(), re.MULTILINE)
    assert sorted(documented) == HOOKS


def test_guide_covers_packaging_templating_and_env():
    text = DOC.read_text()
    for needle in ('[project.entry-points."fleeting_openstack.strategies"]', "{{fleeting.instance_name}}",
                   "FLEETING_OPENSTACK_TRACE_HOOKS", "FLEETING_OPENSTACK_BLOCK_PLUGINS", "fleeting-key-salt"):
        assert needle in text, needle
    from fleeting_openstack.plugin import templating
    for var in templating.VARIABLES:
        assert f"fleeting.{var}" in text, var
