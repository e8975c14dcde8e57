"""Strategies written against the 0.1 import paths still load, with a DeprecationWarning."""

from __future__ import annotations

import subprocess
import sys

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
assert UserDataError is plugin.UserDataError and StrategyManager is plugin.StrategyManager


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
        f"fleeting_openstack.{m} is deprecated: import from fleeting_openstack.plugin"
        for m in ("hookspecs", "strategy_types", "strategies")
    ]
