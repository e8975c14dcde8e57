"""openstack/nova.py: the user_data encoding, its one size check, and the create body."""

from __future__ import annotations

import base64
import json

import pytest

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack import userdata_limit
from fleeting_openstack.openstack import nova

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
GROUP = "a9c941cb-5b34-46e0-8fc6-7471e3b77c75"


def spec_of(**server_spec: object):
    base = {"name": "runner-%d", "flavorRef": "f1", "networks": "none"}
    if "image_name" not in server_spec:
        base["imageRef"] = IMAGE
    doc = {"name": "group", "server_spec": {**base, **server_spec}}
    return load_plugin_config(doc, env={}).config.server_spec


def test_encode_user_data():
    assert userdata_limit.encode_user_data("#cloud-config\n") == "I2Nsb3VkLWNvbmZpZwo="
    assert base64.b64decode(userdata_limit.encode_user_data("é")) == "é".encode()


def test_size_check_counts_base64_of_the_utf8_bytes_without_encoding():
    limit_text = 65535 // 4 * 3  # 49149 bytes -> 65532 base64 characters
    for text in ("", "a", "ab", "abc", "é" * 7, "#" * limit_text):
        assert userdata_limit.check_user_data_size(text) == len(userdata_limit.encode_user_data(text))
    with pytest.raises(userdata_limit.UserDataTooLarge, match="is 65536 bytes after base64 encoding; Nova's limit is 65535"):
        userdata_limit.check_user_data_size("#" * (limit_text + 3))
    with pytest.raises(userdata_limit.UserDataTooLarge) as caught:
        userdata_limit.check_user_data_size("é" * 25000)  # 50000 UTF-8 bytes -> 66668 base64 characters
    assert caught.value.size == 66668


def test_text_that_is_not_unicode_names_the_key():
    with pytest.raises(ValueError, match=r"^user_data \(server_spec.user_data as rendered by the boot strategy\): "
                                         r"character '\\ud800' at position 1 cannot be encoded"):
        userdata_limit.check_user_data_size("#\ud800", userdata_limit.RENDERED)
    with pytest.raises(ValueError, match=r"^server_spec.user_data: character"):
        userdata_limit.encode_user_data("\ud800")


def test_create_request():
    spec = spec_of(scheduler_hints={"group": GROUP}, user_data="#cloud-config\n", metadata={"role": "ci"})
    req = nova.create_request(spec.body, name=spec.render_name(12), user_data=spec.user_data,
                              metadata={"fleeting-cluster": "group"}, tags=["group"], availability_zone="az1")
    assert req["os:scheduler_hints"] == {"group": GROUP}
    server = req["server"]
    assert server["name"] == "runner-12" and server["availability_zone"] == "az1"
    assert "scheduler_hints" not in server
    assert base64.b64decode(server["user_data"]) == b"#cloud-config\n"
    assert server["metadata"] == {"role": "ci", "fleeting-cluster": "group"}
    assert server["tags"] == ["group"]
    assert spec.user_data == "#cloud-config\n" and spec.body["metadata"] == {"role": "ci"}  # the spec is unchanged
    replaced = nova.create_request(spec.body, user_data='{"ignition": {"version": "3.4.0"}}')
    assert json.loads(base64.b64decode(replaced["server"]["user_data"]))["ignition"]["version"] == "3.4.0"
    assert replaced["server"]["name"] == "runner-%d" and "availability_zone" not in replaced["server"]
    assert "user_data" not in nova.create_request(spec.body, user_data=None)["server"]


def test_create_request_takes_a_plain_body():
    """The adapter reads no config object: a JSON body is all it needs."""
    body = {"name": "n-%d", "imageRef": IMAGE, "flavorRef": "1", "networks": "none", "user_data": "old"}
    req = nova.create_request(body, name="n-1", user_data="new")
    assert base64.b64decode(req["server"]["user_data"]) == b"new" and body["user_data"] == "old"
    assert "os:scheduler_hints" not in req


def test_create_request_needs_resolved_names():
    spec = spec_of(image_name="ubuntu")
    with pytest.raises(ValueError, match="image_name"):
        nova.create_request(spec.body, user_data=None)
    req = nova.create_request(spec.body, user_data=None, image_ref=IMAGE)
    assert req["server"]["imageRef"] == IMAGE and "image_name" not in req["server"]
