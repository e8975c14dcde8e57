"""GroupView (provider/groupview.py) on its own: when a refresh is a full resync and when a
``changes-since`` delta, what a delta does to the view, doubt after a failed listing, the
stale rules, the single refresh in flight, the plugin's own creates (BUILD placeholders
looked up by id) and servers deleted behind the plugin's back.

The cloud is a stub of the view's own Protocol (``ListingCloud``: ``list_servers`` and
``get_server``) that records every request; the clock is the view's injectable ``clock``.
The provider-level behaviour on the shared FakeCloud is in test_group_refresh.py."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import pytest

from fleeting_openstack.config.identity import META_CLUSTER
from fleeting_openstack.openstack.client import CloudError, NotFound, Server
from fleeting_openstack.provider import groupview
from fleeting_openstack.provider.groupview import LOOKUPS_PER_REFRESH, OVERLAP, GroupView, nova_time

TAG = "fleeting-g"
T0 = 1_700_000_000.0
INTERVAL = 600.0


def server(
    sid: str,
    status: str = "ACTIVE",
    *,
    tags: tuple[str, ...] = (TAG,),
    group: str | None = None,
    task_state: str | None = None,
    name: str | None = None,
) -> Server:
    """A Nova server as the adapter returns it (``group``: its fleeting-cluster metadata)."""
    return Server(
        id=sid,
        name=name or f"g-{sid}",
        status=status,
        task_state=task_state,
        created=T0 - 60,
        metadata={META_CLUSTER: group} if group else {},
        tags=list(tags),
        addresses=[],
        image_id=None,
        flavor=None,
    )


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Nova:
    """``groupview.ListingCloud`` over a dict of servers, recording what it was asked.

    ``servers``: what a tag or name listing and a lookup by id see; ``delta``: what the next
    ``changes-since`` listing answers (then nothing); ``fail``: raised by every listing;
    ``broken``: ids whose lookup fails with a 500; ``hold()``: listings wait until
    ``release(error)`` (``error``: what the listing that was held raises)."""

    def __init__(self, *servers: Server, clock: Clock | None = None) -> None:
        self.servers = {s.id: s for s in servers}
        self.delta: list[Server] = []
        self.fail: Exception | None = None
        self._released_with: Exception | None = None
        self.broken: set[str] = set()
        self.listings: list[dict[str, str]] = []
        self.lookups: list[str] = []
        self.last_date: float | None = None  # the Date header of the last answer (cloud clock)
        self.clock, self.listing_takes = clock, 0.0  # the listing moves the view's clock on by this
        self.in_flight = self.max_in_flight = 0
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()

    def hold(self) -> None:
        self._gate.clear()

    def release(self, error: Exception | None = None) -> None:
        self._released_with = error
        self._gate.set()

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        with self._lock:
            self.listings.append(dict(filters))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            assert self._gate.wait(5), "a listing held for 5 s"
            with self._lock:
                error, self._released_with = self._released_with or self.fail, None
            if error is not None:
                raise error
            if self.clock is not None:
                self.clock.t += self.listing_takes
            if "changes-since" in filters:
                answer, self.delta = self.delta, []
            elif "tags" in filters:
                answer = [s for s in self.servers.values() if filters["tags"] in s.tags]
            else:
                answer = [s for s in self.servers.values() if re.match(filters["name"], s.name)]
        finally:
            with self._lock:
                self.in_flight -= 1
        return iter(answer)

    def get_server(self, server_id: str) -> Server:
        self.lookups.append(server_id)
        if server_id in self.broken:
            raise CloudError("HTTP 500", 500)
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        return self.servers[server_id]


def view_of(nova: Nova, clock: Clock | None = None, **kwargs: object) -> GroupView:
    clock = clock or nova.clock or Clock()
    return GroupView(nova, TAG, resync_interval=INTERVAL, clock=clock, **kwargs)


def listed(nova: Nova, *sids: str, clock: Clock | None = None, **kwargs: object) -> GroupView:
    """A view after its first (full) refresh of ``sids``."""
    nova.servers.update({sid: server(sid) for sid in sids})
    view = view_of(nova, clock, **kwargs)
    view.refresh()
    nova.listings.clear()
    return view


def ids(servers: list[Server] | Mapping[str, Server]) -> set[str]:
    return {s.id for s in servers} if isinstance(servers, list) else set(servers)


# -- full resync and delta ----------------------------------------------------------------------
def test_the_first_refresh_lists_the_group_by_its_tag():
    nova = Nova(server("a"), server("b"), server("x", tags=("someone-else",)))
    view = view_of(nova)
    assert view.age() is None and not view.fresh and view.recent() is None
    assert ids(view.refresh()) == {"a", "b"}
    assert nova.listings == [{"tags": TAG}]
    assert (view.last_kind, view.fulls, view.deltas) == ("full", 1, 0)
    assert view.fresh and view.age() == 0.0 and ids(view.snapshot()) == {"a", "b"}


def test_between_resyncs_a_refresh_asks_what_changed_since_the_last_began_minus_the_overlap():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock, prefix="g.ci-")
    clock.t = T0 + 30
    view.refresh()
    clock.t = T0 + 45
    view.refresh()
    # The name prefix narrows the delta server-side, as a regex: its dot is escaped.
    assert nova.listings == [
        {"changes-since": nova_time(T0 - OVERLAP), "name": r"^g\.ci\-"},
        {"changes-since": nova_time(T0 + 30 - OVERLAP), "name": r"^g\.ci\-"},
    ]
    assert (view.last_kind, view.fulls, view.deltas) == ("delta", 1, 2)
    assert nova_time(0) == "1970-01-01T00:00:00Z"


def test_a_delta_without_a_name_prefix_asks_only_changes_since():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    clock.t += 1
    view.refresh()
    assert nova.listings == [{"changes-since": nova_time(T0 - OVERLAP)}]


def test_a_delta_applies_what_changed_and_keeps_the_rest():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "keep", "changed", "deleted", "deleted-own", "untagged", clock=clock)
    view.group = "g"
    clock.t += 5
    nova.delta = [
        server("changed", "SHUTOFF"),
        server("deleted", "DELETED", tags=()),  # Nova drops a deleted server's tags
        server("deleted-own", "DELETED", tags=(), group="g"),  # its metadata says ours: still deleted
        server("untagged", tags=()),  # its tag removed: no longer a member
        server("new"),
        server("foreign", tags=("other-group",)),  # another group's server with our prefix
    ]
    assert ids(view.refresh()) == {"keep", "changed", "new"}
    assert view.snapshot()["changed"].status == "SHUTOFF"
    assert view.last_kind == "delta" and nova.lookups == []


def test_a_server_listed_again_unchanged_keeps_the_object_the_view_holds():
    """The delta re-lists the last OVERLAP seconds' changes and a resync every member: an equal
    record keeps the held object (verdicts.py reuses a settled verdict keyed on it), a changed
    one replaces it."""
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "same", "changed", clock=clock)
    held = view.snapshot()
    clock.t += 5
    nova.delta = [server("same"), server("changed", "SHUTOFF")]  # new objects, as every answer is
    after = view.refresh()
    by_id = {s.id: s for s in after}
    assert by_id["same"] is held["same"]
    assert by_id["changed"] is not held["changed"] and by_id["changed"].status == "SHUTOFF"
    nova.servers = {"same": server("same"), "changed": server("changed", "SHUTOFF", task_state="deleting")}
    clock.t = T0 + INTERVAL
    full = {s.id: s for s in view.refresh()}
    assert view.last_kind == "full"
    assert full["same"] is held["same"] and full["changed"].task_state == "deleting"


def test_an_unchanged_group_costs_one_request():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    for _ in range(3):
        clock.t += 10
        assert ids(view.refresh()) == {"a", "b"}
    assert len(nova.listings) == 3 and nova.lookups == [] and view.deltas == 3


def test_a_full_resync_every_resync_interval_replaces_the_view():
    """What a delta cannot see (a tag removed: Nova does not touch updated_at) is caught by the resync."""
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    nova.servers["b"] = server("b", tags=())  # untagged without a changes-since record
    nova.servers["c"] = server("c")  # created by someone, never in a delta
    for t in (100, 300, INTERVAL - 1):
        clock.t = T0 + t
        assert ids(view.refresh()) == {"a", "b"} and view.last_kind == "delta"
    clock.t = T0 + INTERVAL
    assert ids(view.refresh()) == {"a", "c"} and view.last_kind == "full"
    assert nova.listings[-1] == {"tags": TAG} and view.fulls == 2
    clock.t += 1  # the interval counts from this resync
    view.refresh()
    assert view.last_kind == "delta"


def test_the_delta_window_starts_by_the_clouds_clock_when_it_tells():
    """The window starts when the previous refresh began, by the cloud's Date header: the
    listing's own duration is taken off, and a cloud clock ahead of ours is not trusted."""
    clock = Clock()
    nova = Nova(clock=clock)
    nova.listing_takes = 4.0
    nova.last_date = T0 - 500 + 4  # the cloud's clock is 500 s behind ours; its answer came 4 s in
    view = listed(nova, "a", clock=clock)
    clock.t = T0 + 30
    nova.last_date = T0 + 1000  # now the cloud is ahead: our start (T0 + 30) is used
    view.refresh()
    clock.t = T0 + 60
    view.refresh()
    assert [f["changes-since"] for f in nova.listings] == [
        nova_time(T0 - 500 - OVERLAP),
        nova_time(T0 + 30 - OVERLAP),
    ]


# -- doubt and stale data ---------------------------------------------------------------------
def test_a_failed_refresh_answers_the_last_known_members_and_puts_the_view_in_doubt():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    clock.t += 5
    nova.fail = CloudError("HTTP 503", 503)
    assert ids(view.refresh()) == {"a", "b"}
    assert (view.last_kind, view.failures, view.fresh) == ("stale", 1, False)
    assert view.age() == 5  # counts from the last good refresh
    nova.fail = None
    nova.servers["c"] = server("c")
    clock.t += 5  # well within resync_interval, yet a full resync: a delta could miss what the failure hid
    assert ids(view.refresh()) == {"a", "b", "c"}
    assert nova.listings[-1] == {"tags": TAG} and view.last_kind == "full" and view.fresh


def test_in_doubt_forces_a_full_resync_at_the_next_refresh():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.in_doubt()
    assert not view.fresh
    clock.t += 1
    view.refresh()
    assert nova.listings == [{"tags": TAG}] and view.last_kind == "full" and view.fresh


def test_the_first_refresh_failing_raises_there_is_nothing_to_fall_back_on():
    """An empty answer would tell the runner "all deleted"."""
    nova = Nova(server("a"))
    nova.fail = CloudError("HTTP 503", 503)
    view = view_of(nova)
    with pytest.raises(CloudError, match="503"):
        view.refresh()
    assert view.failures == 1 and view.age() is None and view.snapshot() == {}
    nova.fail = None
    assert ids(view.refresh()) == {"a"} and view.last_kind == "full"


def test_past_the_stale_limit_a_failed_refresh_raises_and_recent_answers_none():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.stale_limit = 60.0
    nova.fail = CloudError("connection reset")
    clock.t = T0 + 60
    assert ids(view.refresh()) == {"a"} and view.last_kind == "stale"
    assert ids(view.recent() or {}) == {"a"}  # Heartbeat may still answer from the view
    clock.t = T0 + 61
    assert view.recent() is None
    with pytest.raises(RuntimeError, match=r"could not be listed for 61s \(stale_states_limit 60s\): connection reset"):
        view.refresh()
    assert not view.fresh
    nova.fail = None  # the cloud answers again: a full resync, and the view is good again
    assert ids(view.refresh()) == {"a"} and view.last_kind == "full" and view.recent() is not None


# -- the group by metadata (a member whose tag was removed) -------------------------------------
def test_the_first_listing_after_a_start_finds_members_by_tag_or_metadata():
    nova = Nova(
        server("tagged"),
        server("lost-tag", tags=(), group="g"),
        server("stranger", tags=()),  # named like ours, but neither tag nor metadata
        server("elsewhere", tags=(), group="g", name="h-1"),  # not under the prefix: not asked for
    )
    view = view_of(nova, prefix="g-")
    view.group = "g"
    retagged: list[str] = []
    view.on_untagged = lambda s: retagged.append(s.id)
    assert ids(view.refresh()) == {"tagged", "lost-tag"}
    assert nova.listings == [{"name": r"^g\-"}] and retagged == ["lost-tag"]
    view.in_doubt()
    view.refresh()  # not the first listing any more: by tag
    assert nova.listings[-1] == {"tags": TAG}


def test_a_member_the_tag_listing_lost_is_asked_for_and_kept_by_its_metadata():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "untagged", "other", "gone", "deleted", "broken", clock=clock)
    view.group = "g"
    retagged: list[str] = []

    def retag(s: Server) -> None:  # what the provider does (safety.retag)
        retagged.append(s.id)
        nova.servers[s.id] = server(s.id, group="g")

    view.on_untagged = retag
    nova.servers["untagged"] = server("untagged", tags=(), group="g")  # tag removed: still ours
    nova.servers["other"] = server("other", tags=(), group="h")  # now another group's
    del nova.servers["gone"]
    nova.servers["deleted"] = server("deleted", "DELETED", tags=(), group="g")
    nova.servers["broken"] = server("broken", tags=(), group="g")
    nova.broken = {"broken"}  # cannot be asked: the listing decides
    view.in_doubt()
    assert ids(view.refresh()) == {"a", "untagged"}
    assert sorted(nova.lookups) == ["broken", "deleted", "gone", "other", "untagged"]
    assert retagged == ["untagged"]
    nova.lookups.clear()
    view.in_doubt()
    view.refresh()
    assert nova.lookups == []  # re-tagged: listed again; nothing else is asked for


def test_a_delta_keeps_a_member_by_its_metadata_without_its_tag():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.group = "g"
    clock.t += 1
    nova.delta = [server("a", tags=(), group="g"), server("b", tags=(), group="h")]
    assert ids(view.refresh()) == {"a"}


# -- deleted behind the plugin's back ------------------------------------------------------------
def test_a_server_deleted_behind_the_plugins_back_leaves_the_view_once():
    """Its DELETED record comes again in the next window (the overlap): applying it twice is harmless."""
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    gone = server("b", "DELETED", tags=())
    for _ in range(2):
        clock.t += 5
        nova.delta = [gone]
        assert ids(view.refresh()) == {"a"}
    assert view.last_kind == "delta" and nova.lookups == []


def test_a_server_missing_from_a_full_listing_leaves_the_view():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    del nova.servers["b"]  # its DELETED row already purged: no delta will ever list it
    clock.t = T0 + INTERVAL
    assert ids(view.refresh()) == {"a"} and view.last_kind == "full"


def test_a_server_the_plugin_deletes_is_looked_up_until_nova_no_longer_has_it():
    """A server deleted before a compute host touched it may never show as DELETED in changes-since."""
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    view.deleting(["b", "never-ours"])
    nova.servers["b"] = server("b", task_state="deleting")
    clock.t += 5
    assert view.refresh() and view.snapshot()["b"].task_state == "deleting"
    assert nova.lookups == ["b"]  # what the view does not have is never looked up
    del nova.servers["b"]
    clock.t += 5
    assert ids(view.refresh()) == {"a"}
    clock.t += 5
    view.refresh()
    assert nova.lookups == ["b", "b"]  # gone: no more lookups


def test_a_server_being_deleted_whose_lookup_says_deleted_leaves_the_view():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", "b", clock=clock)
    view.deleting(["b"])
    nova.servers["b"] = server("b", "DELETED", tags=())
    clock.t += 5
    assert ids(view.refresh()) == {"a"}


# -- the plugin's own creates -----------------------------------------------------------------------
def test_an_own_create_is_in_the_view_from_the_create_answer_on_then_nova_s_record():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new", server("new", "BUILD", name="placeholder"))
    assert view.snapshot()["new"].name == "placeholder"  # no refresh needed
    nova.servers["new"] = server("new", "BUILD", task_state="spawning")  # no updated_at: never in a delta
    for _ in range(3):
        clock.t += 5
        assert view.refresh() and view.snapshot()["new"].task_state == "spawning"  # looked up by id
    assert nova.lookups == ["new"] * 3 and view.last_kind == "delta"
    nova.delta = [server("new")]  # a compute host touched it: listed at last
    clock.t += 5
    assert view.refresh() and view.snapshot()["new"].status == "ACTIVE"
    clock.t += 5
    view.refresh()
    assert nova.lookups == ["new"] * 3  # listed once: no more lookups


def test_an_own_create_listed_before_its_tag_shows_is_a_member():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new")  # no placeholder: not in the view before a listing shows it
    assert "new" not in view.snapshot()
    clock.t += 5
    nova.delta = [server("new", "BUILD", tags=()), server("someone-elses", "BUILD", tags=())]
    assert ids(view.refresh()) == {"a", "new"}


def test_an_own_create_nova_no_longer_has_leaves_the_view():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new", server("new", "BUILD"))
    clock.t += 5
    assert ids(view.refresh()) == {"a"}  # looked up: 404
    clock.t += 5
    view.refresh()
    assert nova.lookups == ["new"]


def test_an_own_create_that_cannot_be_looked_up_stays_as_it_is_and_is_asked_again():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new", server("new", "BUILD", name="placeholder"))
    nova.broken = {"new"}
    for _ in range(2):
        clock.t += 5
        assert view.refresh() and view.snapshot()["new"].name == "placeholder"
    assert nova.lookups == ["new", "new"]


def test_an_own_create_survives_a_full_listing_taken_without_it():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new", server("new", "BUILD", name="placeholder"))
    nova.broken = {"new"}
    view.in_doubt()
    clock.t += 5
    assert view.refresh() and view.last_kind == "full"
    assert view.snapshot()["new"].name == "placeholder"
    nova.broken = set()
    nova.servers["new"] = server("new", "BUILD", task_state="spawning", tags=())  # tags come with the create
    view.in_doubt()
    clock.t += 5
    assert view.refresh() and view.snapshot()["new"].task_state == "spawning"  # Nova's record


def test_a_full_listing_that_shows_an_own_create_ends_its_lookups():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.expect("new", server("new", "BUILD"))
    nova.servers["new"] = server("new")
    view.in_doubt()
    clock.t += 5
    assert ids(view.refresh()) == {"a", "new"} and nova.lookups == []
    clock.t += 5
    view.refresh()
    assert nova.lookups == []


def test_few_lookups_per_refresh_the_longest_unchecked_first():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    made = [f"new{i:02}" for i in range(LOOKUPS_PER_REFRESH + 2)]
    for sid in made:
        view.expect(sid, server(sid, "BUILD"))
        nova.servers[sid] = server(sid, "BUILD", tags=())
    clock.t += 5
    assert ids(view.refresh()) == {"a", *made}
    assert nova.lookups == made[:LOOKUPS_PER_REFRESH]
    nova.lookups.clear()
    clock.t += 5
    view.refresh()
    assert nova.lookups[:2] == made[LOOKUPS_PER_REFRESH:]  # never looked up: first
    assert len(nova.lookups) == LOOKUPS_PER_REFRESH


# -- one refresh in flight ------------------------------------------------------------------------
def in_thread(call):
    """Run ``call`` on a thread; (thread, outcome list) — the outcome once it ends."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def timed(call):
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def settle(view: GroupView) -> None:
    deadline = time.monotonic() + 2
    while view.refreshing:
        assert time.monotonic() < deadline, "the refresh in flight did not end"
        time.sleep(0.005)


def test_a_refresh_within_the_wait_is_answered():
    nova = Nova(server("a"))
    view = view_of(nova)
    assert ids(view.refresh_within(1.0) or []) == {"a"}
    assert view.flights == 1 and view.stale_answers == 0 and not view.refreshing


def test_the_first_refresh_is_waited_for_however_long_it_takes():
    nova = Nova(server("a"))
    view = view_of(nova)
    nova.hold()
    thread, out = in_thread(lambda: view.refresh_within(0.01))
    thread.join(0.08)
    assert thread.is_alive()  # far past its wait: there is nothing to answer with yet
    nova.release()
    thread.join(2)
    assert ids(out[0]) == {"a"}


def test_the_first_refresh_failing_raises_to_whoever_waits():
    nova = Nova(server("a"))
    nova.fail = CloudError("HTTP 401", 401)
    with pytest.raises(CloudError, match="401"):
        view_of(nova).refresh_within(1.0)


def release_later(nova: Nova, then: Callable[[], None] = lambda: None) -> threading.Timer:
    """The held listing answers 0.05 s from now (after ``then``)."""

    def answer() -> None:
        then()
        nova.release()

    timer = threading.Timer(0.05, answer)
    timer.start()
    return timer


def test_updates_share_one_refresh_in_flight():
    nova = Nova()
    view = listed(nova, "a")
    nova.hold()
    try:
        answer, took = timed(lambda: view.refresh_within(0.05))
        assert answer is None and 0.05 <= took < 0.5  # its own refresh, waited for 0.05 s
        assert view.refreshing
        for _ in range(5):
            answer, took = timed(lambda: view.refresh_within(1.0))
            assert answer is None and took < 0.5  # a refresh is running: not waited for (not 1 s)
        nova.delta = [server("b")]
        release_later(nova)
        joined = view.refresh_within(2.0, join=True)  # waits for the refresh in flight
    finally:
        nova.release()
    assert ids(joined or []) == {"a", "b"}
    settle(view)
    assert view.flights == 1 and view.stale_answers == 6
    assert nova.max_in_flight == 1 and len(nova.listings) == 1


def test_update_wait_is_how_long_an_update_waits_by_default(monkeypatch):
    monkeypatch.setattr(groupview, "UPDATE_WAIT", 0.05)
    nova = Nova()
    view = listed(nova, "a")
    nova.hold()
    try:
        answer, took = timed(view.refresh_within)
    finally:
        nova.release()
    assert answer is None and 0.05 <= took < 0.5
    settle(view)


def test_a_refresh_in_flight_past_the_stale_limit_fails_the_update():
    clock = Clock()
    nova = Nova(clock=clock)
    view = listed(nova, "a", clock=clock)
    view.stale_limit = 60.0
    nova.hold()
    try:
        clock.t = T0 + 30
        assert view.refresh_within(0.01) is None
        clock.t = T0 + 61
        with pytest.raises(RuntimeError, match="stale_states_limit 60s"):
            view.refresh_within(0.01)
    finally:
        nova.release()
    settle(view)


def test_after_a_refresh_hung_and_failed_the_next_one_is_not_waited_for(monkeypatch):
    monkeypatch.setattr(groupview, "UPDATE_WAIT", 0.05)
    nova = Nova()
    view = listed(nova, "a")
    nova.hold()
    assert view.refresh_within(0.01) is None
    time.sleep(0.07)  # longer than UPDATE_WAIT: it hung
    nova.release(CloudError("read timed out"))
    settle(view)
    assert view.flights == 1  # nobody asked since it began: not followed by another
    nova.hold()  # and the cloud still hangs
    try:
        answer, took = timed(lambda: view.refresh_within(1.0))
        assert answer is None and took < 0.5  # started by this call, yet not waited for (not 1 s)
    finally:
        nova.release()
    settle(view)
    assert ids(view.refresh_within(1.0) or []) == {"a"}  # that one ended well: waited for again


def test_a_refresh_that_failed_fast_is_no_reason_not_to_wait(monkeypatch):
    monkeypatch.setattr(groupview, "UPDATE_WAIT", 0.05)
    nova = Nova()
    view = listed(nova, "a")
    nova.fail = CloudError("HTTP 503", 503)
    assert ids(view.refresh_within(1.0) or []) == {"a"} and view.last_kind == "stale"
    nova.fail = None
    nova.hold()
    release_later(nova, then=lambda: nova.servers.update(b=server("b")))
    answer, took = timed(lambda: view.refresh_within(1.0))
    assert ids(answer or []) == {"a", "b"} and took >= 0.05  # waited for past UPDATE_WAIT


def test_a_refresh_that_hung_and_failed_is_followed_at_once_while_updates_ask(monkeypatch):
    monkeypatch.setattr(groupview, "UPDATE_WAIT", 0.05)
    nova = Nova()
    view = listed(nova, "a")
    nova.hold()
    assert view.refresh_within(0.01) is None
    time.sleep(0.07)
    assert view.refresh_within(0.01) is None  # still asked for while it hangs
    nova.servers["b"] = server("b")
    nova.release(CloudError("connection reset"))  # the hung listing fails; the next is a full one
    deadline = time.monotonic() + 2
    while view.fulls < 2:  # the follow-up, with nobody calling
        assert time.monotonic() < deadline, "no follow-up refresh"
        time.sleep(0.005)
    settle(view)
    assert view.flights == 2 and ids(view.snapshot()) == {"a", "b"}
