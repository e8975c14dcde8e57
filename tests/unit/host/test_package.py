"""The host package as a whole: what it exports, what it loads, and a unit test file per module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fleeting_openstack.host as host

HERE = Path(__file__).parent
MODULES = sorted(p.stem for p in Path(host.__file__).parent.glob("*.py") if p.stem != "__init__")

LOADED = """
import json, sys
import fleeting_openstack.host
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("fleeting_openstack", "openstack"))))
"""


def test_every_host_module_has_its_unit_test_file():
    assert len(MODULES) >= 6, MODULES
    missing = [m for m in MODULES if not (HERE / f"test_{m}.py").is_file()]
    assert missing == []


def test_the_host_exports_what_it_lists():
    assert sorted(set(host.__all__)) == sorted(host.__all__)
    assert [n for n in host.__all__ if not hasattr(host, n)] == []
    for name in ("StrategyManager", "BoundStrategy", "default_manager", "StrategyHooks", "UnknownStrategyError"):
        assert name in host.__all__, name


def test_importing_the_host_loads_no_openstack_provider_or_cli():
    done = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "fleeting_openstack.host.manager" in loaded and "fleeting_openstack.plugin" in loaded
    layers_above_or_beside = ("openstack", "fleeting_openstack.openstack", "fleeting_openstack.provider",
                              "fleeting_openstack.cli", "fleeting_openstack.transport", "fleeting_openstack.contract")
    assert [m for m in loaded if any(m == p or m.startswith(p + ".") for p in layers_above_or_beside)] == []
