"""The quickstart's config.toml (examples/quickstart.toml) is a config that works: the page
shows the file as it is, and with a real cloud's ids filled in it passes every check Init
runs on the devcloud, and its user_data passes ignition-validate."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path

from fleeting_openstack.config import load_plugin_config, parse_duration
from installed import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart.toml"


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


def test_the_example_with_real_ids_passes_init_s_checks(devcloud, tmp_path):
    text = EXAMPLE.read_text()
    for placeholder, value in {
        "IMAGE_ID": devcloud["images"]["tiny-raw"], "FLAVOR_NAME": "m1.tiny",
        "NETWORK_ID": devcloud["networks"]["workers"], "SECURITY_GROUP_ID": devcloud["security_group"]["name"],
        "SERVER_GROUP_ID": devcloud["server_group"]["id"],
        'cloud = "runner"': 'cloud = "devcloud-demo"',
        "/etc/gitlab-runner/clouds.yaml": devcloud["clouds_yaml"],
        "/var/lib/fleeting-openstack": str(tmp_path / "state"),
    }.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    path = tmp_path / "config.toml"
    path.write_text(text)
    code, out, err = run_cli("validate", "--check-cloud", str(path))
    assert code == 0 and out.rstrip().endswith("valid (1 plugin_config, 0 warnings)"), out + err
    code, user_data, err = run_cli("render-user-data", str(path), "--check-cloud")
    assert code == 0, err
    (tmp_path / "config.ign").write_text(user_data)
    validator = shutil.which("ignition-validate")
    assert validator, "ignition-validate is not installed (scripts/test installs it)"
    done = subprocess.run([validator, str(tmp_path / "config.ign")], capture_output=True, text=True)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    assert json.loads(user_data)["passwd"]["users"][0]["name"] == "core"
