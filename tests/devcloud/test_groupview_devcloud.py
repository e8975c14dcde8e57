"""Update from Nova's changes-since, against the real devcloud: servers created,
changed, deleted or untagged behind the plugin's back are seen within one
resync period; an unchanged group costs one request with an empty list; a
failed refresh never fails Update. (The stand-in in bench/ is only for scale.)"""

from __future__ import annotations

import time

import pytest

from fleeting_openstack.provider import groupview
from fleeting_openstack.contract.instancegroup import State
from fleeting_openstack.openstack.client import Cloud, CloudError, NovaCall
from fleeting_openstack.config.identity import group_tag

from devcloud.lifecycle import start, wait_states  # noqa: E402

pytestmark = pytest.mark.usefixtures("cleanup_group")
MV = "2.79"


def behind_the_back(demo, devcloud, name: str, tag: str) -> str:
    """A server of the group created by someone else (tag in the create body)."""
    body = {"server": {"name": name, "imageRef": devcloud["images"]["tiny-raw"],
                       "flavorRef": devcloud["flavors"]["m1.tiny"],
                       "networks": [{"uuid": devcloud["networks"]["workers"]}], "tags": [tag]}}
    response = demo.compute.post("/servers", json=body, microversion=MV)
    assert response.status_code == 202, response.text
    return response.json()["server"]["id"]


def until(provider, predicate, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    states: dict = {}
    while time.time() < deadline:
        states = dict(provider.update())
        if predicate(states):
            return states
        time.sleep(1)
    raise AssertionError(f"not seen within {timeout}s: {states}")


def test_deltas_see_create_state_change_and_delete(plugin_config, demo, devcloud, group_name):
    """With a resync period far away, only changes-since can show these."""
    provider = start(plugin_config(resync_interval="1h"))
    assert provider.update() == []
    assert provider.view.fulls == 1
    tag = group_tag(group_name)
    a = behind_the_back(demo, devcloud, f"{group_name}-901", tag)
    b = behind_the_back(demo, devcloud, f"{group_name}-902", tag)
    until(provider, lambda s: s.get(a) is State.RUNNING and s.get(b) is State.RUNNING)
    # b changes state behind the plugin's back: SHUTOFF -> the plugin deletes it.
    assert demo.compute.post(f"/servers/{b}/action", json={"os-stop": None},
                             microversion=MV).status_code == 202
    until(provider, lambda s: s.get(b) is State.DELETING or b not in s)
    # a is deleted behind the plugin's back -> it leaves the group.
    assert demo.compute.delete(f"/servers/{a}", microversion=MV).status_code == 204
    states = until(provider, lambda s: a not in s and b not in s)
    assert states == {}
    assert provider.view.fulls == 1 and provider.view.deltas >= 4  # all of it from deltas


def test_lost_tag_is_seen_within_one_resync_period(plugin_config, demo, group_name):
    # Issue 11: a server whose tag was removed is still a member (its metadata names the group):
    # the next full resync notices the lost tag, keeps the server and tags it again.
    provider = start(plugin_config(resync_interval="3s"))
    provider.increase(1)
    (sid,) = wait_states(provider, {State.RUNNING}, 1)
    fulls = provider.view.fulls
    response = demo.compute.delete(f"/servers/{sid}/tags/{group_tag(group_name)}", microversion=MV)
    assert response.status_code == 204, response.text
    started = time.time()
    while time.time() - started < 30:
        assert sid in dict(provider.update())  # never reported gone
        if group_tag(group_name) in demo.compute.get(f"/servers/{sid}", microversion=MV).json()["server"]["tags"]:
            break
        time.sleep(1)
    assert time.time() - started < 3 + 5  # re-tagged within one resync period (+ Update spacing)
    assert provider.view.fulls > fulls
    demo.compute.delete(f"/servers/{sid}", microversion=MV)


def test_unchanged_group_is_one_request_with_an_empty_list(plugin_config, group_name, monkeypatch):
    calls: list[NovaCall] = []
    provider = start(plugin_config(resync_interval="1h"), nova_calls=calls)
    provider.increase(2)
    states = wait_states(provider, {State.RUNNING}, 2)
    monkeypatch.setattr(groupview, "OVERLAP", 1.0)
    time.sleep(3)  # nothing changes now
    provider.update()
    calls.clear()
    assert dict(provider.update()) == states  # the view answers
    assert len(calls) == 1, calls
    (call,) = calls
    assert (call.method, call.path) == ("GET", "/servers/detail") and "changes-since" in call.params
    assert call.params["name"] == "^" + groupview.re.escape(f"{group_name}-")
    assert call.answer == {"servers": []}
    monkeypatch.undo()
    # Decrease uses that view: no listing, one DELETE per server.
    calls.clear()
    assert sorted(provider.decrease(list(states))) == sorted(states)
    assert [c.method for c in calls] == ["DELETE", "DELETE"], calls
    until(provider, lambda s: not s)


def test_restart_and_errors_force_a_full_resync(plugin_config, monkeypatch):
    cfg = plugin_config(resync_interval="1h")
    provider = start(cfg)
    provider.increase(1)
    states = wait_states(provider, {State.RUNNING, State.CREATING}, 1)
    provider.update()
    assert provider.view.last_kind == "delta"
    # A failing list call: Update still answers (last known states), then resyncs in full.
    real = Cloud.list_servers

    def failing(self, filters, page_size=1000):
        raise CloudError("Nova GET /servers/detail: HTTP 503: injected", 503)

    monkeypatch.setattr(Cloud, "list_servers", failing)
    assert set(dict(provider.update())) == set(states)
    assert provider.view.last_kind == "stale"
    monkeypatch.setattr(Cloud, "list_servers", real)
    fulls = provider.view.fulls
    assert set(dict(provider.update())) == set(states)
    assert provider.view.last_kind == "full" and provider.view.fulls == fulls + 1
    # A restarted plugin (a new process: a new provider) starts with a full listing.
    again = start(cfg)
    assert set(dict(again.update())) == set(states)
    assert again.view.last_kind == "full"
    again.decrease(list(states))
    until(again, lambda s: not s)
