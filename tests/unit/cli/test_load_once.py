"""The commands for people read and validate a config once: the Target's loaded config reaches Init."""

from __future__ import annotations

import json

import pytest
from fakecloud import FakeCloud, init_checks, plugin_config

from fleeting_openstack import config
from fleeting_openstack.cli.common import load_target
from fleeting_openstack.contract.instancegroup import Settings
from fleeting_openstack.provider.observer import GroupObserver


def test_init_uses_the_targets_loaded_config_without_loading_it_again(tmp_path, monkeypatch):
    path = tmp_path / "plugin_config.json"
    path.write_text(json.dumps(plugin_config(state_dir=str(tmp_path))))
    target = load_target(str(path))
    assert target.loaded is not None and target.loaded.config is target.config

    def load_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("Init loaded and validated the config a second time")

    monkeypatch.setattr(config, "load_plugin_config", load_again)
    observer = GroupObserver(checks=init_checks(FakeCloud()))
    observer.open(json.dumps(dict(target.raw)).encode(), Settings(target.connector), loaded=target.loaded)
    assert observer.config is target.config

    # without ``loaded`` Init loads the bytes itself (the runner's path): the patched loader is called
    with pytest.raises(AssertionError, match="second time"):
        GroupObserver(checks=init_checks(FakeCloud())).open(
            json.dumps(dict(target.raw)).encode(), Settings(target.connector))
