"""The quickstart page and its config.toml (examples/quickstart.toml) as written: the page
shows the file as it is, and the file follows the runner-side advice (with a real cloud:
tests/devcloud/test_quickstart.py)."""

from __future__ import annotations

import tomllib

from fleeting_openstack.config import load_plugin_config, parse_duration
from project import EXAMPLES, ROOT

EXAMPLE = EXAMPLES / "quickstart.toml"


def test_the_page_shows_the_example_file():
    page = (ROOT / "docs" / "quickstart.md").read_text()
    assert "```toml\n" + EXAMPLE.read_text() + "```\n" in page


def test_the_runner_side_advice_is_in_the_example():
    autoscaler = tomllib.loads(EXAMPLE.read_text())["runners"][0]["autoscaler"]
    assert autoscaler["instance_ready_command"]
    assert parse_duration(autoscaler["update_interval"]) >= 30
    assert 2 <= parse_duration(autoscaler["update_interval_when_expecting"]) <= parse_duration(
        autoscaler["update_interval"])
    (policy,) = autoscaler["policy"]
    assert 0 < policy["idle_count"] <= autoscaler["max_instances"] and parse_duration(policy["idle_time"]) > 0
    assert autoscaler["delete_instances_on_shutdown"] is False
    spec = {"name": "x-%d", "networks": "none", "image_name": "i", "flavor_name": "f"}
    max_size = load_plugin_config({"name": "x", "server_spec": spec}, env={}).config.max_size
    assert autoscaler["max_instances"] <= autoscaler["plugin_config"].get("max_size", max_size)
