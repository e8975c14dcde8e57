"""docs/architecture.md draws exactly the import-linter contracts of pyproject.toml (issue 18 item 7).

The layer lists in the page (a ``<!-- contract: ID -->`` marker, then a fenced block: one layer a
line, top to bottom) are the ``layers`` of the contract with that id in ``[tool.importlinter]``,
and every contract's name appears in the page, so the map cannot drift from what
``scripts/lint`` enforces.
"""

from __future__ import annotations

import re
import tomllib

from project import DOCS, ROOT

PAGE = DOCS / "architecture.md"
MARKED_BLOCK = re.compile(r"<!-- contract: ([\w-]+) -->\s*```[a-z]*\n(.*?)```", re.S)


def contracts() -> dict[str, dict[str, object]]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["id"]: c for c in doc["tool"]["importlinter"]["contracts"]}


def short(layer: str, containers: list[str]) -> str:
    """A layer line as the page writes it: without the package prefix, ``|`` spaced."""
    prefixes = [f"{c}." for c in containers] or ["fleeting_openstack."]

    def name(module: str) -> str:
        optional = module.startswith("(") and module.endswith(")")
        bare = module.strip("()")
        for prefix in prefixes:
            bare = bare.removeprefix(prefix)
        return f"({bare})" if optional else bare

    return " | ".join(name(m.strip()) for m in layer.split("|"))


def drawn() -> dict[str, list[str]]:
    return {
        cid: [line.strip() for line in block.splitlines() if line.strip()]
        for cid, block in MARKED_BLOCK.findall(PAGE.read_text())
    }


def test_the_page_draws_every_layers_contract_exactly():
    declared = {
        cid: [short(layer, list(c.get("containers", []))) for layer in c["layers"]]
        for cid, c in contracts().items()
        if c["type"] == "layers"
    }
    assert declared, "no layers contract in pyproject.toml"
    assert drawn() == declared


def test_the_page_names_every_contract():
    text = " ".join(PAGE.read_text().split())
    missing = [c["name"] for c in contracts().values() if " ".join(str(c["name"]).split()) not in text]
    assert missing == []


def test_a_changed_layer_list_is_seen():
    (cid, layers), *_ = [(cid, c["layers"]) for cid, c in contracts().items() if cid == "layers"]
    assert short(layers[0], []) == drawn()[cid][0]  # the comparison above reads the real lists
    swapped = [short(layer, []) for layer in reversed(layers)]
    assert swapped != drawn()[cid]
