"""Input hygiene that needs no cloud: Nova's metadata limits enforced by the
config (and so by `validate`), user_data encoding errors that name the key."""

from __future__ import annotations

import pytest

from fleeting_openstack.config import ConfigError, load_plugin_config


def base(**spec):
    return {"name": "g", "cloud": "c",
            "server_spec": {"name": "g-%d", "imageRef": "49cdb143-18bc-4772-b6a9-daed7f6bd54b", "flavorRef": "1",
                            "networks": [{"uuid": "eed21096-d2c6-4cc2-8cc6-e307dcfe9563"}], **spec}}


def test_nova_metadata_key_count_is_enforced():
    load_plugin_config(base(metadata={f"k{i}": "v" for i in range(121)}), env={})  # 128 - the plugin's 7 keys
    with pytest.raises(ConfigError, match=r"server_spec.metadata: has 40000 items; Nova accepts at most 128"):
        load_plugin_config(base(metadata={f"k{i}": "v" for i in range(40000)}), env={})


def test_metadata_key_and_value_length_are_enforced():
    with pytest.raises(ConfigError) as err:
        load_plugin_config(base(metadata={"k" * 256: "v", "a": "x" * 256}), env={})
    assert "at most 255 characters" in str(err.value) and "1 to 255 characters" in str(err.value)


def test_user_data_that_is_not_unicode_names_the_key():
    with pytest.raises(ConfigError, match=r"server_spec.user_data: character '\\ud800' at position 14 cannot be "
                                          r"encoded as UTF-8"):
        load_plugin_config(base(user_data="#cloud-config\n\ud800"), env={})
