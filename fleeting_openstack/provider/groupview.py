"""The group's servers as last seen, kept fresh with Nova's ``changes-since``.

Update pays for what changed, not for the size of the group:

* a **full resync** lists the group by its tag (``GET /servers/detail?tags=``,
  every page) and replaces the view; it happens at the first refresh (so
  after every restart), every ``resync_interval`` (plugin_config, default
  10 minutes), and whenever the view is in doubt: after a failed refresh, or
  when the last good refresh is older than the resync interval (a gap);
* in between, a **delta** asks ``GET /servers/detail?changes-since=<t>``:
  every server of the project changed since ``t``, *deleted ones included*
  (Nova reports them with status DELETED for as long as their database row
  stays, which is how a server deleted behind the plugin's back is seen).
  The tag filter cannot be combined with it: Nova drops a server's tags when
  it deletes it, so ``tags=`` would hide exactly the deletions. The delta is
  narrowed server-side by the literal prefix of the name template instead
  (``name=^prefix``, a regex Nova applies to deleted servers too) and
  filtered client-side by tag. An unchanged group costs one request whose
  body is ``{"servers": []}``.

``t`` is the start of the previous good refresh by the cloud's clock when the
response carries a ``Date`` header (else the plugin's clock), minus
:data:`OVERLAP` seconds: Nova stamps ``updated_at`` before it commits, and
clocks drift, so consecutive windows overlap; applying a change twice is
harmless. What a delta cannot see is caught by the next full resync: a tag
removed from a server (Nova does not touch ``updated_at`` for tags) or a
rename away from the prefix. The correctness tests (tests/devcloud/test_groupview_devcloud.py)
run against the real devcloud with a short resync interval.

**One refresh in flight** (:meth:`GroupView.refresh_within`): Update starts a refresh
on a thread of its own unless one is already running, and waits for it at most
:data:`UPDATE_WAIT` seconds (not at all when the previous refresh hung and then
failed: the cloud is in trouble); an Update that finds a refresh running, or whose wait runs out,
gets ``None`` and answers with the last known states. A cloud that hangs
therefore costs one hanging request, not one per Update, and the refresh that is
running when the cloud answers again is the one whose answer the next Update
reports. Only the very first listing of a process has nothing to fall back on.

**The plugin's own creates** (:meth:`GroupView.expect`): Nova leaves a server's
``updated_at`` empty until a compute host first touches it, and ``changes-since``
never returns such a server. A server this process created is therefore in the
view from the create answer on (a placeholder in BUILD, what the create request
said) until a listing shows it; until then each refresh looks it up by id (at most
:data:`LOOKUPS_PER_REFRESH`, the longest unchecked first), which replaces the
placeholder with Nova's record, or drops it when Nova no longer has it.

(About 420 lines, over the project's ~400: the delta/resync bookkeeping, the single refresh
in flight and the own-creates lookups share one view and its locks; split, each part would
need the others' state.)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_CLUSTER
from fleeting_openstack.provider.cloud import ListingCloud

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Server


log = logging.getLogger("fleeting_openstack.groupview")

#: Seconds each delta window reaches back before the previous refresh began.
OVERLAP = 10.0
#: Servers per page (Nova's default ``max_limit``; a lower cloud limit just means more pages).
PAGE_SIZE = 1000
#: Seconds an Update waits for the refresh it started before answering with the last known states.
UPDATE_WAIT = 3.0
#: Own creates no listing has shown yet that one refresh looks up by id (the rest at the next one).
LOOKUPS_PER_REFRESH = 10


class _Flight:
    """One refresh running on its own thread: its outcome once ``done`` is set."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: list[Server] = []
        self.error: BaseException | None = None


def nova_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class GroupView:
    """The members of one group (by Nova tag), refreshed incrementally.

    Thread-safe: refreshes are serialised; readers get a snapshot.
    """

    def __init__(
        self,
        cloud: ListingCloud,
        tag: str,
        *,
        resync_interval: float,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
        group: str | None = None,
        stale_limit: float = float("inf"),
        on_untagged: Callable[[Server], None] | None = None,
    ) -> None:
        self.cloud = cloud
        self.tag = tag
        self.resync_interval = resync_interval
        self.prefix = prefix
        self.clock = clock
        self.servers: dict[str, Server] = {}
        self.last_kind = ""  # "full" | "delta" | "stale": what the last refresh did
        self.fulls = self.deltas = self.failures = 0
        self._since: float | None = None  # start of the last good refresh (cloud clock)
        self._last_full = 0.0
        self._last_good = 0.0
        self._doubt = True
        self._expected: set[str] = set()
        self._unseen: dict[str, float] = {}  # own creates no listing has shown: id -> when last looked up
        self._deleting: dict[str, float] = {}  # servers the plugin deletes: id -> when last looked up
        self._refresh_lock = threading.Lock()
        self._lock = threading.Lock()
        self._flight: _Flight | None = None  # the refresh running on its own thread, if any
        self._flight_lock = threading.Lock()
        self._last_flight_hung = False  # the last refresh on its own thread failed after > UPDATE_WAIT
        self._asked = 0.0  # when refresh_within was last called (monotonic)
        self.flights = 0  # refreshes started by refresh_within
        self.stale_answers = 0  # refresh_within calls answered without waiting for a refresh to end
        #: Seconds after the last good refresh during which a failing refresh reports the last known states.
        self.stale_limit: float = stale_limit
        #: The group name: a server with metadata fleeting-cluster=<group> is a member even without its tag.
        self.group: str | None = group
        #: Called with a member found by metadata whose tag is missing (the provider re-tags it).
        self.on_untagged: Callable[[Server], None] | None = on_untagged

    @property
    def fresh(self) -> bool:
        """A view exists and is not in doubt."""
        return self._since is not None and not self._doubt

    def expect(self, server_id: str, placeholder: Server | None = None) -> None:
        """A server this process just created: a member even before its tag shows, and in the
        view from now on (``placeholder``: what the create request said) until a listing shows it."""
        with self._lock:
            self._expected.add(server_id)
            if placeholder is not None and server_id not in self.servers:
                self.servers[server_id] = placeholder
                self._unseen[server_id] = 0.0

    def age(self) -> float | None:
        """Seconds since the last good refresh; None before the first one."""
        return None if self._since is None else self.clock() - self._last_good

    def recent(self) -> dict[str, Server] | None:
        """The members as last seen while the view is within ``stale_limit`` of its last good
        refresh (what Heartbeat answers from); None before the first refresh or beyond that."""
        age = self.age()
        if age is None or age > self.stale_limit:
            return None
        return self.snapshot()

    @property
    def refreshing(self) -> bool:
        """A refresh is running on its own thread."""
        return self._flight is not None

    def refresh_within(self, wait: float | None = None, *, join: bool = False) -> list[Server] | None:
        """Single-flight refresh: start one on its own thread unless one is running; the members
        when it ends within ``wait`` seconds (default :data:`UPDATE_WAIT`; only the caller that
        started it waits, or any with ``join``), else None (the caller answers with the last known states).

        None is never answered when there is no view yet (the first refresh's outcome is waited
        for, however long the request timeouts let it take) or when the last good refresh is
        older than ``stale_limit`` (that raises, as :meth:`refresh` does)."""
        wait = UPDATE_WAIT if wait is None else wait
        with self._flight_lock:
            self._asked = time.monotonic()
            flight = self._flight
            started = flight is None
            if flight is None:
                flight = self._take_off()
        if self._since is None:
            flight.done.wait()  # no view yet: nothing to fall back on (bounded by the request timeouts)
        # The previous refresh hung (failed after more than UPDATE_WAIT): the cloud is in trouble,
        # and the refresh started now is not waited for either.
        patient = join or (started and not self._last_flight_hung)
        if flight.done.wait(wait if patient else 0.0):
            if flight.error is not None:
                raise flight.error
            return flight.result
        age = self.age()
        assert age is not None
        if age > self.stale_limit:
            raise RuntimeError(
                f"the group could not be listed for {age:.0f}s (stale_states_limit {self.stale_limit:g}s): "
                "a refresh is still waiting for the cloud"
            )
        self.stale_answers += 1
        log.warning(
            "the group's refresh is still waiting for the cloud; reporting the last known states",
            extra={"group_tag": self.tag, "age": round(age, 1)},
        )
        return None

    def _take_off(self) -> _Flight:
        """A new refresh on its own thread (called with ``_flight_lock`` held)."""
        flight = self._flight = _Flight()
        self.flights += 1
        threading.Thread(target=self._fly, args=(flight,), name="group-refresh", daemon=True).start()
        return flight

    def _fly(self, flight: _Flight) -> None:
        began = time.monotonic()
        try:
            flight.result = self.refresh()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for this refresh
            flight.error = exc
        finally:
            failed = flight.error is not None or self.last_kind not in ("full", "delta")
            self._last_flight_hung = failed and time.monotonic() - began > UPDATE_WAIT
            with self._flight_lock:
                self._flight = None
                # A refresh that hung and then failed (often: the hung request reset as the cloud
                # comes back) is followed at once by the next, while Updates still ask for the group
                # (nobody asked since it began: abandoned), so the first Update after the cloud
                # answers again finds the group listed instead of starting the listing.
                if self._last_flight_hung and self._asked > began:
                    self._take_off()
            flight.done.set()

    def in_doubt(self) -> None:
        """Force a full resync at the next refresh."""
        self._doubt = True

    def snapshot(self) -> dict[str, Server]:
        with self._lock:
            return dict(self.servers)

    def refresh(self) -> list[Server]:
        """Bring the view up to date; return the members.

        A failed refresh marks the view in doubt and returns the last known
        members (logged at warn); only when there never was a view does the
        error propagate (an empty answer would tell the runner "all deleted").
        """
        with self._refresh_lock:
            now = self.clock()
            full = (
                self._doubt
                or self._since is None
                or now - self._last_full >= self.resync_interval
                or now - self._last_good >= self.resync_interval
            )
            try:
                if full:
                    self._full(now)
                else:
                    self._delta(now)
            except Exception as exc:
                self.failures += 1
                if self._since is None:
                    raise
                if now - self._last_good > self.stale_limit:
                    self._doubt = True
                    raise RuntimeError(
                        f"the group could not be listed for {now - self._last_good:.0f}s "
                        f"(stale_states_limit {self.stale_limit:g}s): {exc}"
                    ) from exc
                self._doubt = True
                self.last_kind = "stale"
                log.warning(
                    "could not refresh the group (%s); reporting the last known states, full resync at the next Update",
                    exc,
                    extra={"group_tag": self.tag, "age": round(now - self._last_good, 1)},
                )
            return list(self.snapshot().values())

    def _started(self, now: float) -> float:
        """The refresh start by the cloud's clock when it told us (Date header)."""
        date = getattr(self.cloud, "last_date", None)
        if date is None:
            return now
        return min(now, float(date) - (self.clock() - now))

    def _full(self, now: float) -> None:
        if self._since is None and self.group and self.prefix:
            # The first listing after a start: by name prefix, members by tag *or* metadata, so a
            # member whose tag was removed (before the restart) is found, still in one request.
            listed = self.cloud.list_servers({"name": "^" + re.escape(self.prefix)}, page_size=PAGE_SIZE)
            servers = {s.id: s for s in listed if self.tag in s.tags or self._by_metadata(s)}
            for server in servers.values():
                if self.tag not in server.tags and self.on_untagged is not None:
                    self.on_untagged(server)
        else:
            servers = {s.id: s for s in self.cloud.list_servers({"tags": self.tag}, page_size=PAGE_SIZE)}
            if self.group:
                self._untagged(servers)
        started = self._started(now)
        looked = self._look_up_unseen(set(servers))
        with self._lock:
            servers = {sid: self._kept(server) for sid, server in servers.items()}
            self._keep_unseen(servers, looked)
            self.servers = servers
            self._expected &= set(servers)
        self._since, self._last_full, self._last_good, self._doubt = started, now, now, False
        self.fulls += 1
        self.last_kind = "full"

    def _untagged(self, servers: dict[str, Server]) -> None:
        """Members the view had that the tag listing lost: asked for one by one (usually none, so
        no request); one whose tag was removed but whose metadata names the group stays."""
        for sid in set(self.servers) - set(servers):
            try:
                server = self.cloud.get_server(sid)
            except Exception:  # noqa: BLE001 - gone (404) or unknown: the listing decides
                continue
            if self._by_metadata(server) and server.status.upper() != "DELETED":
                servers[server.id] = server
                if self.on_untagged is not None:
                    self.on_untagged(server)

    def _kept(self, listed: Server) -> Server:
        """The object the view holds for this server when the listing shows it unchanged (the delta
        re-lists the last OVERLAP seconds' changes, a resync every member): whoever keyed a
        conclusion on the object (verdicts.py reuses a settled verdict) keeps it. Called with
        ``_lock`` held."""
        held = self.servers.get(listed.id)
        return held if held is not None and held == listed else listed

    def _by_metadata(self, server: Server) -> bool:
        return bool(self.group) and server.metadata.get(META_CLUSTER) == self.group

    def _delta(self, now: float) -> None:
        assert self._since is not None
        filters = {"changes-since": nova_time(self._since - OVERLAP)}
        if self.prefix:
            filters["name"] = "^" + re.escape(self.prefix)
        changed = list(self.cloud.list_servers(filters, page_size=PAGE_SIZE))
        started = self._started(now)
        with self._lock:
            for server in changed:
                member = self.tag in server.tags or server.id in self._expected or self._by_metadata(server)
                if server.status.upper() == "DELETED" or not member:
                    # Deleted, or untagged: gone from the group. A server the
                    # view never had and that is not a member is someone else's.
                    self.servers.pop(server.id, None)
                    self._expected.discard(server.id)
                    self._deleting.pop(server.id, None)
                else:
                    self.servers[server.id] = self._kept(server)
                self._unseen.pop(server.id, None)
        looked = self._look_up_unseen({s.id for s in changed})
        with self._lock:
            self._keep_unseen(self.servers, looked)
        self._since, self._last_good = started, now
        self.deltas += 1
        self.last_kind = "delta"

    def _look_up_unseen(self, listed: set[str]) -> dict[str, Server | None]:
        """Own creates no listing has shown and servers being deleted (none of them in ``listed``),
        looked up by id, the longest unchecked first (at most LOOKUPS_PER_REFRESH): id -> Nova's
        record, or None when Nova no longer has it. One that cannot be looked up now is left out
        (it stays as it is)."""
        from fleeting_openstack.openstack.client import NotFound

        with self._lock:
            waiting = sorted(
                (t, sid) for book in (self._unseen, self._deleting) for sid, t in book.items() if sid not in listed
            )
        out: dict[str, Server | None] = {}
        for _, sid in waiting[:LOOKUPS_PER_REFRESH]:
            try:
                server = self.cloud.get_server(sid)
            except NotFound:
                out[sid] = None
                continue
            except Exception as exc:  # noqa: BLE001 - looked up again at the next refresh
                log.debug("could not look up a server not listed: %s", exc, extra={"server": sid})
                continue
            finally:
                with self._lock:
                    for book in (self._unseen, self._deleting):
                        if sid in book:
                            book[sid] = self.clock()
            out[sid] = None if server.status.upper() == "DELETED" else server
        return out

    def _keep_unseen(self, servers: dict[str, Server], looked: Mapping[str, Server | None]) -> None:
        """Own creates stay in ``servers`` until a listing shows them or Nova no longer has them;
        servers being deleted until Nova no longer has them (called with ``_lock`` held)."""
        for sid in list(self._unseen):
            if sid in servers and sid not in looked and servers is not self.servers:
                del self._unseen[sid]  # the full listing shows it
                continue
            if sid in looked and looked[sid] is None:
                del self._unseen[sid]
                self._expected.discard(sid)
                servers.pop(sid, None)
                continue
            record = looked.get(sid) or self.servers.get(sid)
            if record is not None:
                servers[sid] = record
        for sid in list(self._deleting):
            if sid in looked:
                record = looked[sid]
                if record is None:
                    del self._deleting[sid]
                    servers.pop(sid, None)
                else:
                    servers[sid] = record
            elif sid not in servers and servers is not self.servers:
                del self._deleting[sid]  # not in the full listing: gone

    def set_metadata(self, server_id: str, key: str, value: str | None) -> None:
        """The plugin changed one metadata key of a member (the suspend mark): the view has it at
        once (a metadata change alone may not show in ``changes-since``). None: the key removed."""
        import dataclasses

        with self._lock:
            server = self.servers.get(server_id)
            if server is None:
                return
            metadata = dict(server.metadata)
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
            self.servers[server_id] = dataclasses.replace(server, metadata=metadata)

    def deleting(self, server_ids: Iterable[str]) -> None:
        """Servers the plugin asked Nova to delete: looked up by id at each refresh until Nova no
        longer has them (a server deleted before a compute host touched it may never show as
        DELETED in changes-since)."""
        with self._lock:
            for sid in server_ids:
                if sid in self.servers:
                    self._deleting.setdefault(sid, 0.0)
