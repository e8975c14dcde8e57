"""docs/monitoring.md as written: its scrape config, alert rules and dashboard parse, and its
table names exactly the metrics the plugin exports (the running plugin:
tests/devcloud/test_monitoring.py)."""

from __future__ import annotations

import json
import re

import yaml

from fleeting_openstack.provider import metrics
from prometheus import PAGE, block


def test_the_documented_blocks_parse():
    assert yaml.safe_load(block("Scrape config"))["scrape_configs"][0]["job_name"] == "fleeting-openstack"
    rules = yaml.safe_load(block("Alert rules"))["groups"][0]["rules"]
    assert len(rules) >= 5 and all(r["expr"] and r["alert"] for r in rules)
    dashboard = json.loads(block("Grafana dashboard"))
    assert dashboard["panels"] and all(p["targets"] for p in dashboard["panels"])


def test_every_exported_metric_is_documented_and_vice_versa():
    text = PAGE.read_text()
    table = {m for m in re.findall(r"^\| `(fleeting_openstack_[a-z_]+)` \|", text, flags=re.M)}
    assert table == set(metrics.NAMES)
