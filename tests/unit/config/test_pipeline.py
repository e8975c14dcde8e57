"""The steps of load_plugin_config, each on its own: every step leaves the document it is given alone."""

from __future__ import annotations

import copy

from fleeting_openstack.config import compat, rules
from fleeting_openstack.config.issues import IssueCollector
from fleeting_openstack.config.schema import check as check_schema
from fleeting_openstack.config.units import microversion_tuple, parse_microversion
from fleeting_openstack.openstack import client

NET = "f05e7f64-9e0f-4c5c-acb0-b636000d7301"


def legacy_doc() -> dict:
    """A plugin_config in the Go plugin's spellings and the value forms the plugin makes canonical."""
    return {
        "Name": "g",
        "use_ignition": "true",
        "boot_time": "",
        "server_spec": {
            "name": "g-%d", "image_name": "flatcar", "flavorRef": 42,
            "networks": [{"uuid": NET, "fixedip": "10.0.0.5"}],
            "security_groups": ["default", {"name": "web"}],
            "scheduler_hints": {"differentHost": [NET], "query": [">=", "$free_ram_mb", 1024]},
        },
    }


def test_normalise_returns_a_new_document_and_leaves_its_input_alone():
    doc = legacy_doc()
    before = copy.deepcopy(doc)
    issues = IssueCollector()
    out = compat.normalise(doc, issues)
    assert doc == before
    assert out["name"] == "g" and out["use_ignition"] is True and "boot_time" not in out
    assert out["server_spec"]["networks"][0] == {"uuid": NET, "fixed_ip": "10.0.0.5"}
    assert out["server_spec"]["scheduler_hints"] == {"different_host": [NET], "query": '[">=", "$free_ram_mb", 1024]'}
    assert len(issues.warnings) == 6 and issues.errors == []
    out["server_spec"]["networks"].append("x")
    assert doc == before  # nothing shared with the input


def test_canonical_forms_return_a_new_document():
    doc = compat.normalise(legacy_doc(), IssueCollector())
    before = copy.deepcopy(doc)
    out = compat.canonical_forms(doc)
    assert doc == before
    assert out["server_spec"]["flavorRef"] == "42"
    assert out["server_spec"]["security_groups"] == [{"name": "default"}, {"name": "web"}]


def test_the_rules_only_report():
    doc = compat.normalise(legacy_doc(), IssueCollector())
    doc["server_spec"]["security_groups"].append(" spaced ")
    doc["server_spec"]["tags"] = ["t"]
    before = copy.deepcopy(doc)
    issues = IssueCollector()
    check_schema(doc, issues)
    findings = rules.check(doc, {"OS_COMPUTE_API_VERSION": "2.40"}, issues)
    assert doc == before  # no defaults, no canonical forms, no environment written into it
    assert findings.nova_microversion == "2.40" and findings.durations["build_timeout"] is None
    assert [(e.path, e.message) for e in issues.finish()[0]] == [
        ("server_spec.security_groups[2]", "must not start or end with whitespace"),
        ("server_spec.tags", "needs nova_microversion 2.52 or later (configured: 2.40)")]


def test_one_microversion_parser():
    assert client.microversion_tuple is microversion_tuple
    assert microversion_tuple("2.96") == (2, 96) and microversion_tuple("3.1") == (3, 1)
    assert parse_microversion("2.79") == (2, 79)
