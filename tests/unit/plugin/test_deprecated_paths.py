"""Strategies written against the 0.1 import paths still load, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import fleeting_openstack.plugin as plugin
from project import ROOT

OLD_STYLE = """
import warnings
warnings.simplefilter("error")  # the warning must be raised, so we see it
caught = []
for module in ("hookspecs", "strategy_types", "strategies"):
    try:
        __import__("fleeting_openstack." + module)
    except DeprecationWarning as exc:
        caught.append(str(exc))
warnings.simplefilter("ignore")
from fleeting_openstack.hookspecs import hookimpl
from fleeting_openstack.strategy_types import ReadinessResult, UserDataError
from fleeting_openstack.strategies import StrategyManager
import fleeting_openstack.plugin as plugin
assert hookimpl is plugin.hookimpl and ReadinessResult is plugin.ReadinessResult
import fleeting_openstack.host as host
assert UserDataError is plugin.UserDataError and StrategyManager is host.StrategyManager


class Old:
    @hookimpl
    def fleeting_default_username(self, image):
        return "old"


@hookimpl
def fleeting_register_strategies(registry):
    registry.add("old-style", Old())


import types
module = types.ModuleType("old_style_strategy")
module.fleeting_register_strategies = fleeting_register_strategies
manager = StrategyManager.load()
manager.register(module, "old-style")
assert "old-style" in manager.strategy_names()
print("\\n".join(caught))
"""


def test_strategies_on_the_old_import_paths_load_and_are_warned() -> None:
    done = subprocess.run([sys.executable, "-c", OLD_STYLE], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "fleeting_openstack.hookspecs is deprecated and will be removed in 0.3.0: import from fleeting_openstack.plugin",
        "fleeting_openstack.strategy_types is deprecated and will be removed in 0.3.0: "
        "import from fleeting_openstack.plugin",
        "fleeting_openstack.strategies is deprecated and will be removed in 0.3.0: import from "
        "fleeting_openstack.plugin (a strategy's tests: StrategyManager from fleeting_openstack.host)",
    ]


@pytest.mark.parametrize("module", ["hookspecs", "strategy_types", "strategies"])
def test_each_old_path_warns_with_the_removal_version_and_the_new_path(module: str, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, f"fleeting_openstack.{module}", raising=False)  # it warns when first imported
    with pytest.warns(DeprecationWarning, match=r"removed in 0\.3\.0: import from fleeting_openstack\.plugin"):
        old = importlib.import_module(f"fleeting_openstack.{module}")
    assert old.hookimpl is plugin.hookimpl
    assert set(plugin.__all__) <= set(old.__all__)


def test_the_changelog_names_the_removal_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    unreleased = text[text.index("## Unreleased") : text.index("## 0.1.0")]
    for module in ("hookspecs", "strategy_types", "strategies"):
        assert f"`fleeting_openstack.{module}`" in unreleased, module
    assert "removed in 0.3.0" in unreleased
