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
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.config.identity import META_CLUSTER

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Server


class ListingCloud(Protocol):
    """The adapter's server reads the view makes."""

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterable[Server]: ...

    def get_server(self, server_id: str) -> Server: ...


log = logging.getLogger("fleeting_openstack.groupview")

#: Seconds each delta window reaches back before the previous refresh began.
OVERLAP = 10.0
#: Servers per page (Nova's default ``max_limit``; a lower cloud limit just means more pages).
PAGE_SIZE = 1000


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
        self._refresh_lock = threading.Lock()
        self._lock = threading.Lock()
        #: Seconds after the last good refresh during which a failing refresh reports the last known states.
        self.stale_limit: float = float("inf")
        #: The group name: a server with metadata fleeting-cluster=<group> is a member even without its tag.
        self.group: str | None = None
        #: Called with a member found by metadata whose tag is missing (the provider re-tags it).
        self.on_untagged: Callable[[Server], None] | None = None

    @property
    def fresh(self) -> bool:
        """A view exists and is not in doubt."""
        return self._since is not None and not self._doubt

    def expect(self, server_id: str) -> None:
        """A server this process just created: a member even before its tag shows."""
        with self._lock:
            self._expected.add(server_id)

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
        with self._lock:
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
                else:
                    self.servers[server.id] = server
        self._since, self._last_good = started, now
        self.deltas += 1
        self.last_kind = "delta"
