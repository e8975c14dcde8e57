"""The test tiers, by directory, and the fixtures every tier shares.

Each top-level directory of tests/ is a tier and carries the pytest marker of its name
(registered in pyproject.toml; ``--strict-markers``), set here, never by hand:

* ``unit/<area>`` (areas as the package's layers): needs nothing but the installed
  package. No root, no devcloud, no Go, no network, no Debian validator. It may not ask
  for a devcloud fixture, and collecting it imports nothing from tests/devcloud.
* ``validators``: the built-in strategies' output checked by the real cloud-init and
  ignition-validate (Debian packages, scripts/install-test-packages).
* ``devcloud``: against the running devcloud (tests/devcloud/start); its tooling lives
  beside these tests, as the ``devcloud`` package.
* ``e2e``: reachable instances on the devcloud, SSH into them (root, Go; docs/e2e.md).
* ``packaging``: how the plugin is built and installed (pipx, the single file, the
  generated code, scripts/install-test-packages).
* ``conformance``: the Go go-plugin hosts (tests/conformance, a Go module) and the Python
  tests that drive them.

A test of any tier that asks for a devcloud fixture is also marked ``devcloud``; the ones
that need Go or root are marked ``go``/``root`` (table NEEDS below). Nothing skips: a skip
is turned into a failure (a missing piece fails, it is never silently left out)."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

TESTS = Path(__file__).resolve().parent
# The plugin is imported from where it is installed (scripts/test: .venv, not this source
# tree); from tests/ only the devcloud tooling (package ``devcloud``) and tests/support.
sys.path.append(str(TESTS))
sys.path.append(str(TESTS / "support"))

from strategy_kit import load_manager  # noqa: E402 - tests/support, on the path above

from fleeting_openstack.host import StrategyManager  # noqa: E402

pytest_plugins = ["devcloud_fixtures"]

TIERS = ("unit", "validators", "devcloud", "e2e", "packaging", "conformance")
#: the fixtures that reach the devcloud (tests/support/devcloud_fixtures.py)
DEVCLOUD_FIXTURES = frozenset({"devcloud", "admin", "demo", "plugin_config", "cleanup_group"})
#: what a file needs beyond its tier, by path below tests/ (checked: every entry must exist)
NEEDS: dict[str, tuple[str, ...]] = {
    "e2e/test_e2e.py": ("root", "go"),
    "e2e/test_final_message_e2e.py": ("root",),
    "packaging/test_single_file.py": ("root", "go"),
    "packaging/test_readme_first_command.py": ("root",),
    "packaging/test_artifact.py": ("root", "go"),
    "packaging/test_generated_code.py": ("go",),
    "conformance/test_conformance_go.py": ("go",),
    "conformance/test_contract_variants.py": ("go",),
    "conformance/test_go_binary_scan.py": ("go",),
    "conformance/test_provisioner.py": ("root", "go"),
    "conformance/test_provisioner_cloudfaults.py": ("root", "go"),
    "conformance/test_provisioner_suspend.py": ("root", "go"),
}


def _tier(item: pytest.Item) -> str:
    rel = Path(str(item.path)).resolve().relative_to(TESTS)
    if len(rel.parts) < 2 or rel.parts[0] not in TIERS:
        raise pytest.UsageError(f"{item.nodeid}: every test lives in a tier directory: tests/{{{','.join(TIERS)}}}/")
    return rel.parts[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [path for path in NEEDS if not (TESTS / path).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py NEEDS names files that do not exist: {missing}")
    for item in items:
        tier = _tier(item)
        item.add_marker(tier)
        uses_cloud = DEVCLOUD_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_cloud:
            if tier == "unit":
                raise pytest.UsageError(f"{item.nodeid}: a unit test asks for {sorted(uses_cloud)}; "
                                        "tests that need the devcloud live in tests/devcloud/")
            if tier != "devcloud":
                item.add_marker("devcloud")
        rel = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
        for need in NEEDS.get(rel, ()):
            item.add_marker(need)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The unit tier stands alone: collecting only tests/unit imported nothing from tests/devcloud."""
    unit = (TESTS / "unit").resolve()
    paths = [Path(arg.split("::", 1)[0]).resolve() for arg in session.config.args]
    if paths and all(path == unit or unit in path.parents for path in paths):
        imported = sorted(name for name in sys.modules if name == "devcloud" or name.startswith("devcloud."))
        if imported:
            raise pytest.UsageError(f"collecting the unit tier imported the devcloud tooling: {imported}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skip is a failure: the suite needs every piece it names, and says which is missing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and tests here never skip: {report.longrepr}"


@pytest.fixture(scope="module")
def manager() -> StrategyManager:
    """The strategies as the plugin loads them (tests/support/strategy_kit.py)."""
    return load_manager()


@pytest.fixture()
def group_name() -> str:
    """A fresh instance-group name (servers are named ``<group>-<n>``)."""
    return f"t-{uuid.uuid4().hex[:10]}"


class LogCapture(logging.Handler):
    """Every formatted hclog line the plugin code emitted."""

    def __init__(self) -> None:
        super().__init__(level=1)
        from fleeting_openstack.transport.hclog import HclogFormatter

        self.setFormatter(HclogFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture()
def plugin_logs() -> Iterator[LogCapture]:
    """The plugin's log records, as the hclog JSON lines go-plugin would read."""
    handler = LogCapture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(1)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)
