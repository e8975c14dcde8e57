"""Every delete the provider makes (provider/deletes.py): Decrease's deletes for the runner
(several at once, a server already gone counts as deleted, one outside the group is refused,
a failure is a PartialError) and the plugin's own deletes of unusable servers (at most once a
minute; an ERROR fault read from the server's record; capacity faults move the flavor/AZ
fallbacks on); what belonged to a deleted server (floating IP, key material) is released."""

from __future__ import annotations

import threading
import time

import pytest

from fleeting_openstack.config.identity import META_SALT
from fleeting_openstack.contract.instancegroup import PartialError
from fleeting_openstack.openstack.client import CloudError, NotFound, Server
from fleeting_openstack.provider.concurrency import AdaptiveLimit
from fleeting_openstack.provider.deletes import Deletes
from fleeting_openstack.provider.states import REDELETE_AFTER, Memory


def server(sid: str, status: str = "ACTIVE", *, fault: str = "", group: str = "g", salt: str = "") -> Server:
    metadata = {"fleeting-cluster": group, **({META_SALT: salt} if salt else {})}
    return Server(
        id=sid,
        name=f"{group}-{sid}",
        status=status,
        task_state=None,
        created=0.0,
        metadata=metadata,
        tags=[],
        addresses=[],
        image_id=None,
        flavor=None,
        fault=fault,
    )


class Nova:
    """``deletes.DeleteCloud``: servers by id; ``fail``: id -> what its delete raises."""

    def __init__(self, *servers: Server) -> None:
        self.servers = {s.id: s for s in servers}
        self.fail: dict[str, Exception] = {}
        self.fail_once: dict[str, Exception] = {}
        self.deleted: list[str] = []
        self.looked_up: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    def get_server(self, server_id: str) -> Server:
        self.looked_up.append(server_id)
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        return self.servers[server_id]

    def delete_server(self, server_id: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.03)  # long enough for the window's other calls to start meanwhile
            if server_id in self.fail:
                raise self.fail[server_id]
            if server_id in self.fail_once:
                raise self.fail_once.pop(server_id)
            self.deleted.append(server_id)
        finally:
            with self._lock:
                self.in_flight -= 1


class Released:
    """What the provider hands Deletes to drop a deleted server's floating IP and key."""

    def __init__(self) -> None:
        self.fips: list[str] = []
        self.salts: list[str] = []

    def release(self, server_id: str) -> None:  # deletes.Releasable
        self.fips.append(server_id)

    def forget(self, salt: str) -> None:  # keys.KeyStore.forget
        self.salts.append(salt)


class Breaker:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def failed(self, reason: str) -> None:
        self.failures.append(reason)


class Choices:
    def __init__(self) -> None:
        self.current = ("small", "az1")
        self.advanced: list[tuple[tuple[str, str | None], str]] = []

    def advance(self, tried: tuple[str, str | None], reason: str) -> bool:
        self.advanced.append((tried, reason))
        return True


def deletes(nova: Nova, memory: Memory | None = None, released: Released | None = None, **kwargs: object) -> Deletes:
    released = released or Released()
    return Deletes(nova, memory or Memory(), threading.Lock(), keys=released, fips=released, **kwargs)


def is_member(s: Server) -> bool:
    return s.metadata.get("fleeting-cluster") == "g"


def for_runner(d: Deletes, nova: Nova, ids: list[str], limit: AdaptiveLimit | None = None) -> list[str]:
    members = {sid: s for sid, s in nova.servers.items() if sid.startswith("m")}  # the view: m*
    return d.for_runner(ids, members, limit or AdaptiveLimit("delete", 10), is_member, "g")


# -- Decrease -----------------------------------------------------------------------------------
def test_decrease_deletes_the_named_servers_and_drops_what_was_theirs():
    nova = Nova(server("m1", salt="salt-one-0123456789"), server("m2"), server("m3"))
    memory = Memory(ready={"m1": "ready", "m3": "ready"})
    released = Released()
    before = time.time()
    assert for_runner(deletes(nova, memory, released), nova, ["m1", "m2"]) == ["m1", "m2"]
    assert sorted(nova.deleted) == ["m1", "m2"] and nova.looked_up == []  # in the view: no lookup
    assert set(memory.deletes) == {"m1", "m2"} and all(t >= before for t in memory.deletes.values())
    assert memory.ready == {"m3": "ready"}  # a deleted server is no longer ready
    assert sorted(released.fips) == ["m1", "m2"] and released.salts == ["salt-one-0123456789"]


def test_decrease_deletes_several_at_once_within_the_window():
    nova = Nova(*(server(f"m{i}") for i in range(8)))
    ids = [f"m{i}" for i in range(8)]
    assert for_runner(deletes(nova), nova, ids, AdaptiveLimit("delete", 3, initial=3)) == ids  # in the order asked
    assert 1 < nova.max_in_flight <= 3


def test_a_delete_nova_refused_with_429_is_tried_again_through_the_window():
    nova = Nova(server("m1"))
    busy = CloudError("HTTP 429: too many requests", 429)
    busy.retry_after = 0.01
    nova.fail_once = {"m1": busy}
    assert for_runner(deletes(nova), nova, ["m1"]) == ["m1"] and nova.deleted == ["m1"]


def test_a_server_not_in_the_view_is_asked_for():
    nova = Nova(server("x1"), server("x2", group="h"))
    d = deletes(nova)
    assert for_runner(d, nova, ["x1", "gone"]) == ["x1", "gone"]  # gone already: what the runner wants
    assert nova.looked_up == ["x1", "gone"] and nova.deleted == ["x1"]
    with pytest.raises(PartialError, match="x2 is not a server of group g") as err:
        for_runner(d, nova, ["x2", "m-none"])
    assert err.value.done == ["m-none"] and nova.deleted == ["x1"]  # another group's server is never deleted


def test_a_failed_delete_is_a_partial_error_with_the_rest_done():
    nova = Nova(server("m1"), server("m2"), server("m3"))
    nova.fail = {"m2": CloudError("HTTP 409: locked", 409), "m3": NotFound("gone meanwhile", 404)}
    memory = Memory()
    with pytest.raises(PartialError, match="HTTP 409: locked") as err:
        for_runner(deletes(nova, memory), nova, ["m1", "m2", "m3"])
    assert err.value.done == ["m1", "m3"]  # a 404 on delete: deleted all the same
    assert set(memory.deletes) == {"m1", "m3"}


# -- the plugin's own deletes ------------------------------------------------------------------
def test_reap_deletes_at_most_once_a_minute():
    nova = Nova(server("s1", "SHUTOFF", salt="salt-one-0123456789"))
    memory = Memory(ready={"s1": "was ready"})
    released = Released()
    d = deletes(nova, memory, released)
    d.reap(nova.servers["s1"], "status SHUTOFF")
    assert nova.deleted == ["s1"] and "s1" in memory.deletes and memory.ready == {}
    assert released.fips == ["s1"] and released.salts == ["salt-one-0123456789"]
    d.reap(nova.servers["s1"], "status SHUTOFF")
    assert nova.deleted == ["s1"]  # within a minute: not again
    memory.deletes["s1"] = time.time() - REDELETE_AFTER - 1
    d.reap(nova.servers["s1"], "delete did not complete; deleting again")
    assert nova.deleted == ["s1", "s1"]


def test_reap_survives_a_failing_delete_and_tries_again_a_minute_later():
    nova = Nova(server("s1", "ERROR", fault="x"))
    nova.fail = {"s1": CloudError("HTTP 500", 500)}
    memory = Memory()
    deletes(nova, memory).reap(nova.servers["s1"], "status ERROR")  # no exception
    assert nova.deleted == [] and "s1" in memory.deletes  # the next verdict says "being deleted"
    nova.fail = {"s1": NotFound("gone", 404)}
    deletes(nova, memory).reap(nova.servers["s1"], "status ERROR")  # already gone: fine too


def test_an_error_servers_fault_is_read_from_its_own_record_and_a_capacity_fault_moves_on():
    listed = server("s1", "ERROR")  # list answers may omit the fault
    nova = Nova(server("s1", "ERROR", fault="No valid host was found. There are not enough hosts available."))
    breaker, choices = Breaker(), Choices()
    deletes(nova, breaker=breaker, choices=choices).reap(listed, "status ERROR")
    assert nova.looked_up == ["s1"] and nova.deleted == ["s1"]
    assert breaker.failures == ["server went to ERROR: No valid host was found. There are not enough hosts available."]
    assert choices.advanced == [(("small", "az1"), nova.servers["s1"].fault)]


def test_other_faults_and_other_statuses_leave_the_fallbacks_alone():
    breaker, choices = Breaker(), Choices()
    nova = Nova(server("s1", "ERROR", fault="disk image is corrupt"), server("s2", "SHUTOFF"))
    d = deletes(nova, breaker=breaker, choices=choices)
    d.reap(nova.servers["s1"], "status ERROR")
    d.reap(nova.servers["s2"], "status SHUTOFF")
    assert nova.looked_up == [] and sorted(nova.deleted) == ["s1", "s2"]  # the fault was there: no lookup
    assert breaker.failures == [] and choices.advanced == []


def test_forgetting_a_key_is_best_effort():
    class Broken(Released):
        def forget(self, salt: str) -> None:
            raise OSError("read-only file system")

    nova = Nova(server("m1", salt="salt-one-0123456789"))
    assert for_runner(deletes(nova, released=Broken()), nova, ["m1"]) == ["m1"]
