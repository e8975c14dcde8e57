"""`validate` also asks the selected boot strategy, offline."""

from __future__ import annotations

import json

from fleeting_openstack.cli import validate

SPEC = {"name": "w-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "1", "networks": "auto"}


def run(tmp_path, capsys, **cfg):
    path = tmp_path / "plugin_config.json"
    path.write_text(json.dumps({"name": "g", "server_spec": SPEC, **cfg}))
    code = validate.main([str(path)])
    return code, capsys.readouterr().out


def test_ignition_spec_2_is_an_offline_error(tmp_path, capsys):
    spec = dict(SPEC, user_data=json.dumps({"ignition": {"version": "2.3.0"}}))
    code, out = run(tmp_path, capsys, use_ignition=True, server_spec=spec)
    assert code == 1
    assert "server_spec.user_data" in out and "2.3.0" in out


def test_unknown_strategy_lists_installed(tmp_path, capsys):
    code, out = run(tmp_path, capsys, strategy="coreos-magic")
    assert code == 1
    assert "strategy" in out
    for name in ("cloud-init", "ignition", "flatcar", "custom"):
        assert name in out


def test_good_cloud_config_passes(tmp_path, capsys):
    spec = dict(SPEC, user_data="#cloud-config\npackages: [docker.io]\n")
    code, out = run(tmp_path, capsys, server_spec=spec)
    assert code == 0, out
