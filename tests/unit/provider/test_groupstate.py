"""provider/groupstate.py and the provider's Init: one frozen state, swapped in with one assignment."""

from __future__ import annotations

import dataclasses
import json

import pytest
from support.fakecloud import FakeCloud, init_checks, member, plugin_config

from fleeting_openstack.contract.instancegroup import Settings, State
from fleeting_openstack.provider.group import OpenStackProvider
from fleeting_openstack.provider.groupstate import GroupState
from fleeting_openstack.provider.initchecks import InitCheckRunner, InitChecks

FINISHED = ("Cloud-init v. 23.4.4 finished at Wed, 10 Jan 2024 10:00:00 +0000. "
            "Datasource DataSourceOpenStackLocal [net,ver=2].  Up 25.36 seconds\n")


def config(tmp_path, **settings: object) -> bytes:
    return json.dumps(plugin_config(state_dir=str(tmp_path), **settings)).encode()


def clouds_in_turn(*clouds: FakeCloud) -> InitCheckRunner:
    """An Init check runner that hands each Init the next cloud (a real Init connects anew)."""
    left = list(clouds)

    def run(cfg, connector, *, keys: str = "open") -> InitChecks:
        return init_checks(left.pop(0))(cfg, connector, keys=keys)

    return run


def test_init_builds_one_frozen_state(tmp_path):
    cloud = FakeCloud()
    p = OpenStackProvider(checks=init_checks(cloud))
    assert p.state is None and p.cfg is None and p.cloud is None
    with pytest.raises(RuntimeError, match="not initialised"):
        p.update()
    p.init(config(tmp_path, max_size=7), Settings())
    state = p.state
    assert isinstance(state, GroupState) and state.cfg.max_size == 7 and state.cloud is cloud
    assert (p.cfg, p.cloud, p.view, p.keys) == (state.cfg, state.cloud, state.view, state.keys)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.cfg = None  # type: ignore[misc]


def test_a_failed_init_leaves_the_previous_state_in_force_and_closes_its_own_cloud(tmp_path):
    first, second = FakeCloud(), FakeCloud()
    p = OpenStackProvider(checks=clouds_in_turn(first, second))
    p.init(config(tmp_path, max_size=3), Settings())
    before = p.state
    with pytest.raises(ValueError, match="flavor_fallbacks"):
        p.init(config(tmp_path, max_size=9, flavor_fallbacks=["no-such-flavor"]), Settings())
    assert p.state is before and p.cfg is not None and p.cfg.max_size == 3
    assert second.closed and not first.closed
    first.add(member("a"))
    assert [sid for sid, _ in p.update()] == ["a"]  # the previous configuration works on


def test_an_invalid_config_changes_nothing(tmp_path):
    cloud = FakeCloud()
    p = OpenStackProvider(checks=init_checks(cloud))
    p.init(config(tmp_path), Settings())
    before = p.state
    with pytest.raises(ValueError, match="invalid plugin_config"):
        p.init(b'{"name": 1}', Settings())
    assert p.state is before and not cloud.closed


def test_what_was_learnt_about_the_servers_outlives_a_new_init(tmp_path):
    cloud = FakeCloud()
    cloud.console = FINISHED
    p = OpenStackProvider(checks=init_checks(cloud))
    p.init(config(tmp_path, boot_time="600s"), Settings())
    cloud.add(member("a", "ACTIVE"))
    assert dict(p.update()) == {"a": State.RUNNING}
    p.init(config(tmp_path, boot_time="600s", max_size=5), Settings())
    assert "a" in p.memory.ready
    cloud.console = ""  # no marker any more: known ready, it stays running
    assert dict(p.update()) == {"a": State.RUNNING}


def test_the_log_level_is_handed_to_what_the_cli_passes(tmp_path):
    levels: list[str] = []
    p = OpenStackProvider(checks=init_checks(FakeCloud()), set_log_level=levels.append)
    p.init(config(tmp_path, log_level="debug"), Settings())
    p.init(config(tmp_path), Settings())  # no log_level: nothing handed
    assert levels == ["debug"]
    OpenStackProvider(checks=init_checks(FakeCloud())).init(config(tmp_path, log_level="trace"), Settings())


def test_a_benchmark_may_replace_the_create_window(tmp_path):
    from fleeting_openstack.provider.concurrency import AdaptiveLimit

    cloud = FakeCloud()
    p = OpenStackProvider(checks=init_checks(cloud))
    p.init(config(tmp_path), Settings())
    limit = AdaptiveLimit("create", 3, initial=3)
    p.create_limit = limit
    assert p.create_limit is limit and p.state is not None and p.state.creator.limit is limit
    assert p.increase(2) == 2
