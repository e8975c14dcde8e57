"""`user_data_file`: the user_data read from a file at Init, checked exactly like an inline one."""

from __future__ import annotations

import base64
import json

import pytest

from fleeting_openstack.config import ConfigError, load_plugin_config
from fleeting_openstack.userdata_limit import NOVA_USER_DATA_MAX
from installed import run_cli

SPEC = {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267", "flavorRef": "f", "networks": "none"}


def config(**extra):
    return {"name": "g", "server_spec": dict(SPEC), **extra}


def test_the_file_is_the_user_data(tmp_path):
    path = tmp_path / "user-data.yaml"
    path.write_text("#cloud-config\nhostname: {{fleeting.instance_name}}\n")
    cfg = load_plugin_config(config(user_data_file=str(path))).config
    assert cfg.server_spec.user_data == path.read_text() and cfg.user_data_file == str(path)
    # what Nova gets is the file's text, templated
    pc = tmp_path / "pc.json"
    pc.write_text(json.dumps(config(user_data_file=str(path), strategy="custom")))
    toml = tmp_path / "config.toml"
    toml.write_text(f'[[runners]]\nname = "r"\nexecutor = "docker-autoscaler"\n[runners.autoscaler]\n'
                    f'plugin = "fleeting-plugin-openstack"\n[runners.autoscaler.plugin_config]\n'
                    f'name = "g"\nstrategy = "custom"\nuser_data_file = "{path}"\n'
                    f'[runners.autoscaler.plugin_config.server_spec]\n' +
                    "".join(f"{k} = {json.dumps(v)}\n" for k, v in SPEC.items()) +
                    '[runners.autoscaler.connector_config]\nusername = "u"\nuse_static_credentials = true\n'
                    'password = "p"\n')
    code, out, err = run_cli("render-user-data", str(toml))
    assert code == 0, err
    assert out == "#cloud-config\nhostname: g-1\n"


def test_the_same_checks_as_inline(tmp_path):
    encoded = tmp_path / "b64"
    encoded.write_text(base64.b64encode(b"#cloud-config\nhostname: x\n").decode())
    for strategy, severity in (("custom", "warning"), ("cloud-init", "error")):
        inline = tmp_path / f"inline-{strategy}.json"
        inline.write_text(json.dumps(config(strategy=strategy, server_spec=dict(SPEC, user_data=encoded.read_text()))))
        from_file = tmp_path / f"file-{strategy}.json"
        from_file.write_text(json.dumps(config(strategy=strategy, user_data_file=str(encoded))))
        a, b = run_cli("validate", str(inline)), run_cli("validate", str(from_file))
        # the same checks, each reported at the key the operator wrote (issue 20)
        assert a[0] == b[0] and a[1].replace(str(inline), "X").replace(
            "server_spec.user_data:", "user_data_file:"
        ) == b[1].replace(str(from_file), "X")
        assert f"user_data_file: {severity}:" in b[1] and "server_spec.user_data" not in b[1]
    big = tmp_path / "big"
    big.write_text("#cloud-config\n# " + "x" * NOVA_USER_DATA_MAX + "\n")
    with pytest.raises(ConfigError, match="after base64 encoding; Nova's limit"):
        load_plugin_config(config(user_data_file=str(big)))


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        load_plugin_config(config(user_data_file=str(missing)))
    assert str(exc.value) == f"user_data_file: cannot read {missing}: No such file or directory"
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=f"user_data_file: {binary} is not UTF-8 text"):
        load_plugin_config(config(user_data_file=str(binary)))
    ok = tmp_path / "ok"
    ok.write_text("#cloud-config\n")
    with pytest.raises(ConfigError, match="set either user_data_file or server_spec.user_data, not both"):
        load_plugin_config(config(user_data_file=str(ok), server_spec=dict(SPEC, user_data="#cloud-config\n")))
