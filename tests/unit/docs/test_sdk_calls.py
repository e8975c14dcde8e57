"""No openstacksdk deprecation from the tests' and benches' own SDK calls (issue 18 item 8).

The plugin reaches the cloud through raw REST only (``tests/unit/openstack/test_client.py``), but
tests/ and bench/ use admin connections directly. openstacksdk 4 warns (``RemovedInSDK60Warning``)
on every proxy ``find_*`` called with ``ignore_missing=True``, its default, and 6.0 flips it; so
every such call here passes ``ignore_missing=False`` (where the resource must exist) or goes
through ``tests/support/sdkfind.find`` (which does, and answers None when it is missing).
``find_image`` warns whatever its caller passes (the SDK's ``Image.find`` calls the base ``find``
with ``ignore_missing=True`` itself): images are looked up with ``sdkfind.image_named`` (a list).

``tests/devcloud/bootstrap.py`` is left out: ``start`` runs it with Debian's python3-openstacksdk
(0.101, which deprecates nothing of this), never in a test run, and its content hash decides
whether the devcloud's bootstrap runs again.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import openstack
import pytest
from openstack import proxy
from openstack.exceptions import NotFoundException
from sdkfind import find, image_named

ROOT = Path(__file__).resolve().parents[3]
NOT_RUN_BY_TESTS = {ROOT / "tests" / "devcloud" / "bootstrap.py"}
ALWAYS_WARNS = {"find_image"}  # whatever ignore_missing is (openstack/image/v2/image.py Image.find)


def sdk_find_methods() -> set[str]:
    """Every ``find_*`` of the installed openstacksdk's service proxies."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(openstack.__path__, "openstack."):
        if info.name.endswith("._proxy"):
            module = importlib.import_module(info.name)
            for cls in vars(module).values():
                if inspect.isclass(cls) and issubclass(cls, proxy.Proxy):
                    names |= {name for name in dir(cls) if name.startswith("find_")}
    return names


def deprecated_finds(source: str, finds: set[str]) -> list[tuple[int, str]]:
    """(line, method) of each proxy ``find_*`` call that does not pass ``ignore_missing=False``."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in finds:
            given = {k.arg: k.value for k in node.keywords}
            value = given.get("ignore_missing")
            if node.func.attr in ALWAYS_WARNS or not (isinstance(value, ast.Constant) and value.value is False):
                bad.append((node.lineno, node.func.attr))
    return bad


FINDS = sdk_find_methods()


def test_the_sdks_find_methods_are_found():
    assert {"find_image", "find_server", "find_network", "find_port", "find_role", "find_stack"} <= FINDS
    assert "find_leaks" not in FINDS and "find_spec" not in FINDS


def test_a_find_without_ignore_missing_false_is_found():
    source = ("admin.image.find_image('x')\n"
              "conn.compute.find_server(i, ignore_missing=True, all_projects=True)\n"
              "net.find_network('n', ignore_missing=False)\n"
              "admin.image.find_image('x', ignore_missing=False)\n"
              "find(admin.network.find_port, p)\n"
              "leaks.find_leaks(cloud)\n")
    assert deprecated_finds(source, FINDS) == [(1, "find_image"), (2, "find_server"), (4, "find_image")]


def test_no_test_or_bench_calls_a_find_the_sdk_deprecates():
    files = sorted(p for top in ("tests", "bench") for p in (ROOT / top).rglob("*.py") if p not in NOT_RUN_BY_TESTS)
    assert len(files) > 100
    bad = [f"{p.relative_to(ROOT)}:{line}: {method}" for p in files
           for line, method in deprecated_finds(p.read_text(), FINDS)]
    assert bad == []


def test_sdkfind_asks_for_not_found_and_answers_none():
    asked = []

    def finder(name_or_id, ignore_missing=True, **query):
        asked.append((name_or_id, ignore_missing, query))
        if name_or_id == "missing":
            raise NotFoundException("no such thing")
        return f"resource {name_or_id}"

    assert find(finder, "there", all_projects=True) == "resource there"
    assert find(finder, "missing") is None
    assert asked == [("there", False, {"all_projects": True}), ("missing", False, {})]

    def broken(name_or_id, ignore_missing=True):
        raise openstack.exceptions.HttpException("500")

    with pytest.raises(openstack.exceptions.HttpException):  # only a missing resource is None
        find(broken, "x")


def test_image_named_lists_by_name():
    class Images:
        def __init__(self, found):
            self.found, self.asked = found, []

        def images(self, **query):
            self.asked.append(query)
            return iter(self.found)

    class Conn:
        def __init__(self, found):
            self.image = Images(found)

    there, none = Conn(["img-a", "img-b"]), Conn([])
    assert image_named(there, "a") == "img-a" and image_named(none, "b") is None
    assert there.image.asked == [{"name": "a"}] and none.image.asked == [{"name": "b"}]
