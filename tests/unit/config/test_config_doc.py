"""docs/configuration.md cannot drift from the schema."""

from __future__ import annotations

import importlib.util
import json
from project import ROOT



def load_generator():
    from importlib.machinery import SourceFileLoader

    path = str(ROOT / "scripts" / "gen-config-doc")
    loader = SourceFileLoader("gen_config_doc", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("gen_config_doc", loader))
    loader.exec_module(module)
    return module


def test_reference_matches_schema():
    expected = load_generator().render()
    assert (ROOT / "docs" / "configuration.md").read_text() == expected, \
        "docs/configuration.md is stale: run scripts/gen-config-doc"


def test_every_schema_key_is_documented():
    schema = json.loads((ROOT / "schemas" / "plugin_config.schema.json").read_text())
    page = (ROOT / "docs" / "configuration.md").read_text()
    for key in schema["properties"]:
        assert f"| `{key}` |" in page, key
