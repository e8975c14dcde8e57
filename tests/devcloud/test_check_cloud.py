"""`validate --check-cloud` runs every check Init runs, through the one function both call
(fleeting_openstack.provider.initchecks.run), against the real devcloud; and what names the cause
when the cloud configuration is wrong."""

from __future__ import annotations

import json
import os
import pty
import subprocess

import pytest

from fleeting_openstack.provider import initchecks
from fleeting_openstack.contract.instancegroup import Settings
from fleeting_openstack.provider.group import OpenStackProvider
from installed import plugin_executable, run_cli

PLUGIN_BIN = plugin_executable()


def init_error(cfg: dict) -> str:
    provider = OpenStackProvider()
    try:
        with pytest.raises(ValueError) as exc:
            provider.init(json.dumps(cfg).encode(), Settings())
    finally:
        provider.close()
    return str(exc.value)


def test_init_and_check_cloud_run_the_same_function(plugin_config, tmp_path, monkeypatch):
    calls = []
    real = initchecks.run

    def spy(cfg, connector, **kwargs):
        calls.append(kwargs.get("keys"))
        return real(cfg, connector, **kwargs)

    monkeypatch.setattr(initchecks, "run", spy)
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config()))
    assert run_cli("validate", "--check-cloud", str(path))[0] == 0
    provider = OpenStackProvider()
    provider.init(path.read_bytes(), Settings())
    provider.close()
    assert calls == ["check", "open"]


def test_check_cloud_fails_where_init_fails_on_an_unsafe_state_dir(plugin_config, tmp_path):
    state = tmp_path / "unsafe"
    state.mkdir()
    state.chmod(0o777)
    cfg = plugin_config(credentials={"state_dir": str(state)})
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))
    code, out, _ = run_cli("validate", "--check-cloud", str(path))
    assert code == 1, out
    problem = next(line for line in out.splitlines() if "credentials.state_dir" in line)
    message = problem.split("error: ", 1)[1]
    assert "lets group/others write here" in message
    assert message in init_error(cfg)  # word for word what Init says
    assert list(state.iterdir()) == []  # validate created nothing


def test_check_cloud_creates_no_state_dir_and_summarises_what_it_resolved(plugin_config, devcloud, tmp_path):
    cfg = plugin_config(credentials={"state_dir": str(tmp_path / "new" / "state")})
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))
    code, out, err = run_cli("validate", "--check-cloud", str(path))
    assert code == 0, out + err
    assert not (tmp_path / "new").exists()
    assert f"resolved: image 'tiny-raw' ({devcloud['images']['tiny-raw']})" in out
    assert devcloud["flavors"]["m1.tiny"] in out and devcloud["networks"]["workers"] in out
    assert "server_spec.networks[0].uuid: resolved: network" in out
    assert f"server_spec.scheduler_hints.group: resolved: server group {devcloud['server_group']['id']}" in out
    assert f"server_spec.security_groups[0]: resolved: security group '{devcloud['security_group']['name']}'" in out
    code, out, _ = run_cli("validate", "--check-cloud", "--json", str(path))
    resolved = {r["path"]: r["value"] for r in json.loads(out)["resolved"]}
    assert devcloud["images"]["tiny-raw"] in resolved["server_spec.image"]
    assert code == 0 and err == ""  # no spinner when stderr is not a terminal


def test_check_cloud_shows_progress_on_a_terminal(plugin_config, tmp_path):
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config()))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([PLUGIN_BIN, "validate", "--check-cloud", str(path)], stdout=subprocess.PIPE,
                            stderr=terminal, text=True)
    os.close(terminal)
    out, _ = proc.communicate(timeout=300)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert proc.returncode == 0, out
    text = seen.decode(errors="replace")
    assert "authenticating to cloud devcloud-demo" in text and "resolving the image" in text
    assert text.endswith("\r\x1b[K")  # the line is erased before the result
    assert "valid (1 plugin_config" in out


def test_unknown_cloud_lists_the_clouds_the_file_defines(plugin_config, devcloud, tmp_path):
    cfg = plugin_config(cloud="devcloud-nope")
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))
    code, out, _ = run_cli("validate", str(path))  # offline
    assert code == 1
    line = next(line for line in out.splitlines() if "error:" in line)
    assert line.startswith(f"{path}: cloud: error: cloud 'devcloud-nope' is not defined in {devcloud['clouds_yaml']}")
    assert "devcloud-demo" in line and "devcloud-appcred" in line
    assert line.split("error: ", 1)[1] in init_error(cfg)
    code, _, err = run_cli("status", str(path))
    assert code == 1 and "devcloud-nope" in err


def test_a_missing_clouds_config_is_named_offline_online_and_at_init(plugin_config, tmp_path):
    missing = tmp_path / "nowhere" / "clouds.yaml"
    cfg = plugin_config(clouds_config=str(missing))
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))
    for argv in (["validate", str(path)], ["validate", "--check-cloud", str(path)]):
        code, out, _ = run_cli(*argv)
        assert code == 1
        errors = [line for line in out.splitlines() if "error:" in line]
        assert errors == [f"{path}: clouds_config: error: cannot read {missing}: No such file or directory"], out
    assert f"clouds_config: cannot read {missing}" in init_error(cfg)
    not_yaml = tmp_path / "clouds.yaml"
    not_yaml.write_text("clouds: [unclosed\n")
    path.write_text(json.dumps(plugin_config(clouds_config=str(not_yaml))))
    code, out, _ = run_cli("validate", str(path))
    assert code == 1 and f"clouds_config: error: {not_yaml} is not valid YAML" in out


def test_check_cloud_warns_about_shelving_a_volume_backed_server_and_names_the_policy(plugin_config, devcloud,
                                                                                      tmp_path):
    """Issue 19: what suspend_mode cannot do as expected is a warning; the policy rules are named."""
    image = devcloud["images"]["tiny-raw"]
    cfg = plugin_config(suspend_mode="shelve", credentials={"state_dir": str(tmp_path / "state")})
    cfg["server_spec"].pop("imageRef", None)
    cfg["server_spec"]["imageRef"] = ""
    cfg["server_spec"]["block_device_mapping_v2"] = [{"boot_index": 0, "uuid": image, "source_type": "image",
                                                      "destination_type": "volume", "volume_size": 1,
                                                      "delete_on_termination": True}]
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(cfg))
    code, out, err = run_cli("validate", "--check-cloud", str(path))
    assert '"shelve" with a volume-backed server' in out, out + err
    assert "os_compute_api:os-shelve:unshelve" in out
    cfg["suspend_mode"] = "stop"
    path.write_text(json.dumps(cfg))
    code, out, err = run_cli("validate", "--check-cloud", str(path))
    assert "volume-backed" not in out and "os_compute_api:servers:start" in out, out + err
