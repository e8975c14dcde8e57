"""Issue 17, items 4 and 5, on the shared in-memory cloud: a Nova whose server list hangs
costs one refresh in flight, Updates answer at once with the last known states, Heartbeat
answers from the view; the plugin's own creates are in every Update from the create answer
on, also those no compute host has touched (changes-since never lists them)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from support.fakecloud import FakeCloud, init_checks, member, plugin_config

from fleeting_openstack.contract.instancegroup import InstanceUnhealthy, Settings, State
from fleeting_openstack.openstack.client import CloudError, NotFound
from fleeting_openstack.provider import groupview
from fleeting_openstack.provider.group import OpenStackProvider

WAIT = 0.5  # groupview.UPDATE_WAIT in these tests


@pytest.fixture(autouse=True)
def short_wait(monkeypatch):
    monkeypatch.setattr(groupview, "UPDATE_WAIT", WAIT)


def start(tmp_path, cloud: FakeCloud, **settings) -> OpenStackProvider:
    provider = OpenStackProvider(checks=init_checks(cloud))
    config = plugin_config(state_dir=str(tmp_path), build_timeout="600s", **settings)
    provider.init(json.dumps(config).encode(), Settings())
    return provider


def ready_group(tmp_path, n: int = 3, **settings) -> tuple[FakeCloud, OpenStackProvider, dict[str, State]]:
    cloud = FakeCloud()
    cloud.add(*(member(f"s{i}", age=300) for i in range(n)))
    provider = start(tmp_path, cloud, **settings)
    states = dict(provider.update())
    assert states == {f"s{i}": State.RUNNING for i in range(n)}
    return cloud, provider, states


def timed(call):
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


# -- item 4: one refresh in flight, Updates at once, Heartbeat from the view ----------------
def test_a_hanging_list_costs_one_refresh_and_updates_answer_at_once(tmp_path):
    cloud, provider, known = ready_group(tmp_path)
    cloud.hold_listings()
    try:
        first, took = timed(provider.update)  # starts the refresh, waits WAIT for it
        assert dict(first) == known and took < WAIT + 0.4
        for _ in range(10):
            states, took = timed(provider.update)
            assert dict(states) == known  # the last known states, no error
            assert took < 0.1  # at once: the refresh in flight is not waited for
        answers: list[dict] = []
        callers = [threading.Thread(target=lambda: answers.append(dict(provider.update()))) for _ in range(12)]
        for t in callers:
            t.start()
        for t in callers:
            t.join(5)
        assert answers == [known] * 12
        assert cloud.max_listings_in_flight == 1  # never more than one refresh of the group
        assert provider.view is not None and provider.view.stale_answers >= 22
    finally:
        cloud.release_listings()


def test_first_good_update_once_the_cloud_answers_again(tmp_path):
    cloud, provider, known = ready_group(tmp_path)
    cloud.hold_listings()
    try:
        for _ in range(3):
            provider.update()
        cloud.add(member("new", age=300))  # changed during the hang: only a good refresh shows it
    finally:
        cloud.release_listings()
    answered = time.monotonic()
    deadline = answered + 5
    while "new" not in dict(provider.update()):
        assert time.monotonic() < deadline, "no good Update within 5 s of the cloud answering again"
        time.sleep(0.05)
    recovery = time.monotonic() - answered
    assert recovery < 1.0, recovery  # the refresh in flight finished: its answer is the next Update's


def test_after_a_refresh_hung_and_failed_the_next_one_is_not_waited_for(tmp_path):
    cloud, provider, known = ready_group(tmp_path)
    cloud.hold_listings()
    provider.update()
    time.sleep(WAIT + 0.1)
    cloud.release_listings(CloudError("read timed out", None))  # the hung listing fails
    time.sleep(0.1)
    cloud.hold_listings()  # and the cloud still hangs
    try:
        states, took = timed(provider.update)  # starts a new refresh, does not wait for it
        assert dict(states) == known and took < 0.1
    finally:
        cloud.release_listings()
    time.sleep(0.1)
    assert dict(provider.update()) == known and provider.view.last_kind in ("full", "delta")


def test_a_refresh_that_hung_and_failed_is_followed_at_once_while_updates_ask(tmp_path):
    """The hung listing is reset as the cloud comes back: the next listing starts right away, so
    the first Update after that finds the group listed."""
    cloud, provider, known = ready_group(tmp_path)
    flights, fulls = provider.view.flights, provider.view.fulls
    cloud.hold_listings()
    provider.update()
    time.sleep(WAIT + 0.1)
    provider.update()  # still asked for
    cloud.add(member("new", age=300))
    cloud.release_listings(CloudError("connection reset", None))
    deadline = time.monotonic() + 2
    while provider.view.fulls == fulls:  # the follow-up listing (a full one), with no Update calling
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert provider.view.flights == flights + 2
    states, took = timed(provider.update)
    assert "new" in dict(states) and took < 0.2


def test_a_refresh_nobody_asked_for_since_is_not_followed(tmp_path):
    cloud, provider, _ = ready_group(tmp_path)
    flights = provider.view.flights
    cloud.hold_listings()
    provider.update()
    time.sleep(WAIT + 0.1)  # no Update since
    cloud.release_listings(CloudError("connection reset", None))
    time.sleep(0.3)
    assert provider.view.flights == flights + 1 and not provider.view.refreshing


def test_a_refresh_that_fails_fast_is_waited_for_next_time(tmp_path):
    """A 5xx (an answer, quickly) is not a hang: the next Update waits for its resync as before."""
    cloud, provider, known = ready_group(tmp_path)
    cloud.hold_listings()
    provider.update()
    cloud.release_listings(CloudError("HTTP 503", 503))  # within UPDATE_WAIT
    time.sleep(0.1)
    assert provider.view.last_kind == "stale"
    cloud.add(member("new", age=300))
    assert "new" in dict(provider.update()) and provider.view.last_kind == "full"


def test_a_refresh_that_keeps_hanging_past_stale_states_limit_fails_update(tmp_path):
    cloud, provider, _ = ready_group(tmp_path, stale_states_limit="1s")
    cloud.hold_listings()
    try:
        provider.update()
        time.sleep(1.2)
        with pytest.raises(RuntimeError, match="stale_states_limit"):
            provider.update()
    finally:
        cloud.release_listings()


def test_heartbeat_answers_from_the_view_while_the_cloud_hangs(tmp_path):
    cloud, provider, known = ready_group(tmp_path)
    cloud.hold_listings()
    try:
        provider.update()
        for sid in known:
            _, took = timed(lambda sid=sid: provider.heartbeat(sid))
            assert took < 0.1
        assert cloud.get_calls == []  # no call to the cloud
    finally:
        cloud.release_listings()


def test_heartbeat_from_the_view_still_tells_an_unusable_server(tmp_path):
    cloud, provider, _ = ready_group(tmp_path)
    cloud.set_status("s1", "ERROR", fault="disk gone")
    provider.view.in_doubt()  # the next refresh lists it as ERROR
    provider.update()
    with pytest.raises(InstanceUnhealthy, match="ERROR"):
        provider.heartbeat("s1")
    assert cloud.get_calls == []


def test_heartbeat_of_a_server_the_view_lacks_asks_nobody(tmp_path):
    cloud, provider, _ = ready_group(tmp_path)
    cloud.hold_listings()
    try:
        with pytest.raises(InstanceUnhealthy, match="not in group g"):
            provider.heartbeat("elsewhere")
        assert cloud.get_calls == []
    finally:
        cloud.release_listings()


def test_heartbeat_looks_the_server_up_when_the_view_is_too_old(tmp_path):
    cloud, provider, _ = ready_group(tmp_path, stale_states_limit="1s")
    time.sleep(1.1)  # the view is older than stale_states_limit: the cloud is asked
    provider.heartbeat("s0")
    with pytest.raises(InstanceUnhealthy, match="not found"):
        provider.heartbeat("elsewhere")
    assert cloud.get_calls == ["s0", "elsewhere"]


# -- item 5: the plugin's own creates in every Update ------------------------------------------
def test_own_creates_no_compute_host_touched_are_in_every_update(tmp_path):
    cloud, provider, known = ready_group(tmp_path, resync_interval="1h")
    cloud.pause_compute()
    assert provider.increase(3) == 3
    made = {sid for sid in cloud.servers if sid not in known}
    assert len(made) == 3
    for _ in range(10):  # deltas only (resync_interval 1h): changes-since never lists them
        states = dict(provider.update())
        assert {sid: states.get(sid) for sid in made} == dict.fromkeys(made, State.CREATING)
        assert provider.view.last_kind == "delta"
        assert made <= cloud.unstamped  # still untouched: no delta lists them
    assert all(len([g for g in cloud.get_calls if g == sid]) >= 1 for sid in made)  # looked up by id
    # A Decrease of what Update listed deletes them; nothing is left once compute runs again.
    assert sorted(provider.decrease(sorted(made))) == sorted(made)
    assert set(cloud.deleted) == made
    assert {dict(provider.update())[sid] for sid in made} == {State.DELETING}
    cloud.resume_compute()
    cloud.finish_deletes()
    states = dict(provider.update())
    assert states == {**known, **dict.fromkeys(made, State.DELETED)}  # deleted, once
    assert dict(provider.update()) == known and not made & set(cloud.servers)


def test_an_own_create_is_in_the_update_that_runs_while_it_is_made(tmp_path):
    """The placeholder survives a full resync whose listing was taken before the create."""
    cloud, provider, known = ready_group(tmp_path)
    cloud.pause_compute()
    cloud.hold_listings()
    provider.view.in_doubt()  # the next refresh is a full one, hanging
    try:
        provider.update()
        assert provider.increase(1) == 1
    finally:
        cloud.release_listings()
    new = next(sid for sid in cloud.servers if sid not in known)
    for _ in range(3):
        assert dict(provider.update()).get(new) == State.CREATING


def test_an_own_create_nova_no_longer_has_leaves_the_view(tmp_path):
    cloud, provider, known = ready_group(tmp_path, resync_interval="1h")
    cloud.pause_compute()
    assert provider.increase(1) == 1
    new = next(sid for sid in cloud.servers if sid not in known)
    assert dict(provider.update())[new] is State.CREATING
    del cloud.servers[new]  # gone without a trace changes-since would show
    cloud.unstamped.discard(new)
    assert dict(provider.update()) == {**known, new: State.DELETED}  # looked up by id: 404
    assert dict(provider.update()) == known
    with pytest.raises(NotFound):
        cloud.get_server(new)


def test_lookups_by_id_are_few_per_refresh(tmp_path):
    cloud, provider, _ = ready_group(tmp_path, resync_interval="1h", create_concurrency=20, max_size=100)
    cloud.pause_compute()
    assert provider.increase(25) == 25
    before = len(cloud.get_calls)
    states = dict(provider.update())
    assert list(states.values()).count(State.CREATING) == 25
    assert len(cloud.get_calls) - before == groupview.LOOKUPS_PER_REFRESH


def test_a_server_deleted_without_a_trace_in_changes_since_leaves_the_view(tmp_path):
    """Seen on the devcloud: a server deleted before a compute host built it vanished from Nova
    without a DELETED record changes-since would list; what the plugin deletes is looked up by id."""
    cloud, provider, known = ready_group(tmp_path, resync_interval="1h")
    assert provider.decrease(["s1"]) == ["s1"]
    assert dict(provider.update())["s1"] is State.DELETING
    del cloud.servers["s1"]  # gone, and no changes-since record of it
    assert dict(provider.update()) == {**known, "s1": State.DELETED}  # looked up: 404
    assert dict(provider.update()) == {k: v for k, v in known.items() if k != "s1"}
    assert provider.view.last_kind == "delta"
