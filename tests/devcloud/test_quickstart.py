"""The quickstart's config.toml (examples/quickstart.toml) is a config that works: with a real
cloud's ids filled in it passes every check Init runs on the devcloud, and its user_data passes
ignition-validate (the page and the file as written: tests/unit/docs/test_quickstart_page.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from installed import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart.toml"


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
