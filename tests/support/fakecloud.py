"""One in-memory cloud for unit tests: the adapter's interface (``openstack.client.Cloud``) without a cloud.

Every unit test that needs "a cloud" uses :class:`FakeCloud` (no ``SimpleNamespace``
clouds, no stubs per file). It answers the calls the provider and the commands make
with the adapter's own types (``Server``, ``Image``, ``CloudError``/``NotFound``),
and records what was asked of it (``deleted``, ``created``, ``tagged``) so tests
assert on effects, never on private state.

Servers are made with :func:`make_server` and put in with :meth:`FakeCloud.add`.
Nova's behaviours the plugin depends on are modelled where tests need them:

* a delete leaves the server listed with ``task_state="deleting"`` until
  :meth:`FakeCloud.finish_deletes` (Nova deletes asynchronously);
* ``changes-since`` listings return what changed since then, deleted servers
  included with status DELETED (what the provider's incremental group view needs);
* list answers may omit a server's fault while its own record has it
  (``add(server, record_fault=...)``);
* a create can fail (``fail_next_create``), also with an unknown outcome where Nova
  made the server anyway (``made=True``: the 5xx-recovery path);
* ``pause_compute()``: servers created from then on have no ``updated_at`` (no compute
  host touched them), so ``changes-since`` never lists them until ``resume_compute()``;
* ``hold_listings()``: every server listing hangs until ``release_listings()`` (a Nova
  whose server list stops answering); ``max_listings_in_flight`` says how many hung at once;
* the project's limits and quotas Increase's pre-check reads (``limits``: Nova's absolute
  limits, ``flavor_sizes``, ``network_quotas``; empty: nothing limits), ``limits_error``:
  ``/limits`` fails (the pre-check is then skipped);
* floating IPs (``floating_ip_pool``): pool networks (``networks``), the ports of a server
  (``ports`` with its ``device_id``), and the floating IP documents Neutron keeps (``fip_docs``).

It is the only fake cloud of the unit tier, and mypy checks it against the provider's
:class:`~fleeting_openstack.provider.cloud.ProviderCloud` (``scripts/lint``; see the end of
this file): a call the provider makes that it lacks fails the lint, not a test at random.

:func:`init_checks` gives ``OpenStackProvider(checks=...)`` this cloud instead of a
real one, so a test drives the provider through its public commands (Init, Update,
Increase, Decrease, ConnectInfo) with a real plugin_config.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from fleeting_openstack.jsontypes import JSONValue
from fleeting_openstack.openstack.client import (
    Address,
    CloudError,
    FloatingIP,
    Image,
    Keypair,
    NotFound,
    Port,
    Server,
    Volume,
)

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import ConnectorConfig
    from fleeting_openstack.jsontypes import JSONObject
    from fleeting_openstack.provider.cloud import ProviderCloud
    from fleeting_openstack.openstack.recording import Recorder
    from fleeting_openstack.openstack.retry import RetryPolicy
    from fleeting_openstack.provider.initchecks import CheckedCloud, Connect, InitCheckRunner, InitChecks
    from fleeting_openstack.provider.keys import KeyStore

IMAGE = "11111111-1111-4111-8111-111111111111"
FLAVOR = "22222222-2222-4222-8222-222222222222"
NETWORK = "33333333-3333-4333-8333-333333333333"


def plugin_config(name: str = "g", state_dir: str = "/nonexistent", **settings: Any) -> dict[str, Any]:
    """A plugin_config for :class:`FakeCloud` (its image, flavor and network), ``settings`` on top."""
    return {"name": name,
            "server_spec": {"name": f"{name}-%d", "imageRef": IMAGE, "flavorRef": FLAVOR,
                            "networks": [{"uuid": NETWORK}]},
            "credentials": {"state_dir": state_dir}, **settings}

#: The fixed address every made server gets unless told otherwise.
DEFAULT_ADDRESS = Address("workers", "10.1.0.5", 4, "fixed")


def make_server(sid: str, status: str = "ACTIVE", *, age: float = 10.0, task_state: str | None = None,
                fault: str = "", name: str | None = None, metadata: Mapping[str, str] | None = None,
                tags: Sequence[str] = (), addresses: Sequence[Address] | None = None,
                image_id: str | None = None, flavor: str | None = None, now: float | None = None) -> Server:
    """A Nova server as the adapter returns it, ``age`` seconds old."""
    return Server(id=sid, name=name if name is not None else f"n-{sid}", status=status, task_state=task_state,
                  created=(now if now is not None else time.time()) - age, metadata=dict(metadata or {}),
                  tags=list(tags), addresses=list(addresses if addresses is not None else [DEFAULT_ADDRESS]),
                  image_id=image_id, flavor=flavor, fault=fault)


def member(sid: str, status: str = "ACTIVE", *, group: str = "g", **kwargs: Any) -> Server:
    """A server of ``group`` as the plugin makes them: named ``<group>-<sid>``, tagged, with its metadata."""
    from fleeting_openstack.config.identity import group_tag

    metadata = {"fleeting-cluster": group, **(kwargs.pop("metadata", None) or {})}
    return make_server(sid, status, name=f"{group}-{sid}", tags=[group_tag(group)], metadata=metadata, **kwargs)


#: Nova's power actions: the statuses it accepts them from, the task state while they run, the end status.
_ACTIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "os-stop": (frozenset({"ACTIVE", "ERROR"}), "powering-off", "SHUTOFF"),
    "os-start": (frozenset({"SHUTOFF"}), "powering-on", "ACTIVE"),
    "suspend": (frozenset({"ACTIVE", "SHUTOFF"}), "suspending", "SUSPENDED"),
    "resume": (frozenset({"SUSPENDED"}), "resuming", "ACTIVE"),
    "shelve": (frozenset({"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"}), "shelving", "SHELVED_OFFLOADED"),
    "unshelve": (frozenset({"SHELVED", "SHELVED_OFFLOADED"}), "unshelving", "ACTIVE"),
}


class FakeCloud:
    """An in-memory Nova (plus the lookups Init makes) with the adapter's methods."""

    def __init__(self, *, region: str = "RegionOne", images: Sequence[Image] = (),
                 flavors: Mapping[str, str] | None = None, networks: Mapping[str, str] | None = None) -> None:
        self.region = region
        self.servers: dict[str, Server] = {}
        self.records: dict[str, Server] = {}  # what get_server answers when it differs from the listing
        self.images = {i.id: i for i in images}
        self.flavors = dict(flavors or {})  # name -> id
        self.networks = dict(networks or {})  # id -> name
        self.console = ""  # every server's console unless ``consoles`` has its own
        self.consoles: dict[str, str] = {}
        self.console_fails = False
        self.deleted: list[str] = []
        self.delete_fails: dict[str, Exception] = {}
        self.created: list[dict[str, Any]] = []  # every create request, also failed ones
        self.tagged: list[tuple[str, str]] = []
        self.list_calls: list[dict[str, str]] = []
        self.closed = False
        self.changed: dict[str, float] = {}  # server id -> when it last changed (changes-since)
        self.gone: dict[str, Server] = {}  # deleted servers, listed by changes-since as DELETED
        # reap's side: the project's ports, floating IPs, keypairs and volumes (deletes go to ``removed``)
        self.ports: list[Port] = []
        self.fips: list[FloatingIP] = []
        self.keypair_list: list[Keypair] = []
        self.volume_list: list[Volume] = []
        self.cinder = True  # a block-storage service in the catalog
        self.removed: list[tuple[str, str]] = []  # (kind, id)
        self.security_groups: set[str] = set()  # names and ids Init's lookup finds
        self.server_groups: set[str] = set()
        self._create_failures: list[tuple[Exception, bool]] = []
        self.image_lookups: list[tuple[str | None, str | None]] = []  # every image() call: (ref, name)
        self.image_lookup_fails: Exception | None = None
        self.check_images = False  # True: a create whose imageRef is not in ``images`` is refused as Nova does
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.get_calls: list[str] = []  # every get_server id asked for
        self.unstamped: set[str] = set()  # servers no compute host touched: never in changes-since
        self.compute_paused = False
        self._listings = threading.Event()  # set: listings answer; cleared: they hang
        self._listings.set()
        self._listing_error: Exception | None = None
        self.listings_in_flight = 0
        self.max_listings_in_flight = 0
        # Increase's quota pre-check: Nova's absolute limits (empty: none), flavor id -> size, Neutron quotas
        self.limits: dict[str, int] = {}
        self.limits_error: Exception | None = None
        self.flavor_sizes: dict[str, dict[str, int]] = {}
        self.network_quotas: JSONObject = {}
        # floating_ip_pool: the floating IP documents Neutron keeps (its own shape, not reap's FloatingIP)
        self.fip_docs: list[JSONObject] = []
        # Suspend/Resume: every (server id, action) accepted; refusals to inject; pending: Nova
        # accepted the action and shows its task state until finish_actions()
        self.actions: list[tuple[str, str]] = []
        self.action_fails: dict[str, Exception] = {}
        self.hold_actions = False
        self._pending: dict[str, str] = {}  # server id -> status it gets when the action finishes
        self.metadata_calls: list[tuple[str, str, str | None]] = []

    # -- test controls -------------------------------------------------------
    def add(self, *servers: Server, record_fault: str = "") -> None:
        """Put servers in; ``record_fault``: a fault only their own record shows (not the listing)."""
        for server in servers:
            self.servers[server.id] = server
            self.changed[server.id] = time.time()
            if record_fault:
                self.records[server.id] = dataclasses.replace(server, fault=record_fault)

    def set_status(self, sid: str, status: str, **changes: Any) -> None:
        self.servers[sid] = dataclasses.replace(self.servers[sid], status=status, **changes)
        self.changed[sid] = time.time()

    def fail_next_create(self, error: Exception, *, made: bool = False) -> None:
        """The next create raises ``error``; ``made``: Nova made the server all the same."""
        self._create_failures.append((error, made))

    def pause_compute(self) -> None:
        """From now on created servers get no ``updated_at``: changes-since does not list them."""
        self.compute_paused = True

    def resume_compute(self) -> None:
        """A compute host touches the servers made while paused: they are stamped (and listed)."""
        self.compute_paused = False
        for sid in self.unstamped:
            self.changed[sid] = time.time()
        self.unstamped.clear()

    def hold_listings(self) -> None:
        """Every server listing hangs from now on until :meth:`release_listings`."""
        self._listings.clear()

    def release_listings(self, error: Exception | None = None) -> None:
        """Listings answer again; ``error``: the ones that hung fail with it (a reset, a timeout)."""
        self._listing_error = error
        self._listings.set()

    def finish_deletes(self) -> None:
        """Nova completes the deletes: deleted servers are no longer listed."""
        for sid in self.deleted:
            server = self.servers.pop(sid, None)
            self.records.pop(sid, None)
            if server is not None:
                self.gone[sid] = dataclasses.replace(server, status="DELETED")
                self.changed[sid] = time.time()

    def finish_actions(self) -> None:
        """Nova's compute finishes the pending power actions: the target status, no task."""
        for sid, status in list(self._pending.items()):
            if sid in self.servers:
                self.set_status(sid, status, task_state=None)
        self._pending.clear()

    # -- the adapter's interface ---------------------------------------------
    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        from fleeting_openstack.openstack.client import parse_time

        self.list_calls.append(dict(filters))
        with self._lock:
            self.listings_in_flight += 1
            self.max_listings_in_flight = max(self.max_listings_in_flight, self.listings_in_flight)
        try:
            held = not self._listings.is_set()
            self._listings.wait(30)
            if held and self._listing_error is not None:
                raise self._listing_error
        finally:
            with self._lock:
                self.listings_in_flight -= 1
        candidates = list(self.servers.values())
        if "changes-since" in filters:
            since = parse_time(filters["changes-since"])
            candidates = [s for s in candidates + list(self.gone.values())
                          if s.id not in self.unstamped and self.changed.get(s.id, since) >= since]
        for server in candidates:
            if "tags" in filters and filters["tags"] not in server.tags:
                continue
            if "name" in filters and not re.search(filters["name"], server.name):
                continue
            yield server

    def get_server(self, server_id: str) -> Server:
        self.get_calls.append(server_id)
        if server_id in self.records:
            return self.records[server_id]
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        return self.servers[server_id]

    def create_server(self, request: Mapping[str, JSONValue]) -> str:
        body = cast("dict[str, Any]", request["server"])  # the adapter's create body (nova.create_request)
        with self._lock:
            self.created.append(dict(request))
            failure = self._create_failures.pop(0) if self._create_failures else None
            image_ref = body.get("imageRef")
            if failure is None and self.check_images and image_ref and image_ref not in self.images:
                failure = (CloudError("Nova POST /servers: HTTP 400: Can not find requested image", 400), False)
            sid = f"srv-{next(self._ids)}"
        if failure is None or failure[1]:
            self.servers[sid] = make_server(sid, "BUILD", age=0.0, name=body["name"],
                                            metadata=body.get("metadata") or {}, tags=body.get("tags") or (),
                                            image_id=body.get("imageRef"), flavor=body.get("flavorRef"))
            if self.compute_paused:
                self.unstamped.add(sid)
            else:
                self.changed[sid] = time.time()
        if failure is not None:
            raise failure[0]
        return sid

    def delete_server(self, server_id: str) -> None:
        if server_id in self.delete_fails:
            raise self.delete_fails[server_id]
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        self.deleted.append(server_id)
        self.servers[server_id] = dataclasses.replace(self.servers[server_id], task_state="deleting")
        self.changed[server_id] = time.time()
        self.unstamped.discard(server_id)  # Nova stamps updated_at when it sets task_state

    def add_tag(self, server_id: str, tag: str) -> None:
        self.tagged.append((server_id, tag))
        server = self.servers[server_id]
        if tag not in server.tags:
            self.servers[server_id] = dataclasses.replace(server, tags=[*server.tags, tag])
            self.changed[server_id] = time.time()

    def server_action(self, server_id: str, action: str) -> None:
        """Nova's os-stop/os-start/suspend/resume/shelve/unshelve: 409 from the wrong status or with
        a task; accepted: its task state, done at once (or at finish_actions() when hold_actions)."""
        if server_id in self.action_fails:
            raise self.action_fails[server_id]
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        server = self.servers[server_id]
        start, task, end = _ACTIONS[action]
        if server.status not in start or server.task_state:
            raise CloudError(f"Cannot '{action}' instance {server_id} while it is in vm_state {server.status}", 409)
        self.actions.append((server_id, action))
        if self.hold_actions:
            self._pending[server_id] = end
            self.set_status(server_id, server.status, task_state=task)
        else:
            self.set_status(server_id, end, task_state=None)

    def _metadata_allowed(self, server_id: str) -> None:
        """Nova changes metadata only of servers ACTIVE, PAUSED, SUSPENDED or SHUTOFF without a task."""
        if server_id not in self.servers:
            raise NotFound(f"server {server_id} not found", 404)
        server = self.servers[server_id]
        if server.status not in ("ACTIVE", "PAUSED", "SUSPENDED", "SHUTOFF") or server.task_state:
            raise CloudError(f"Cannot 'update metadata' instance {server_id} while it is in vm_state "
                             f"{server.status.lower()}", 409)

    def set_server_metadata(self, server_id: str, items: Mapping[str, str]) -> None:
        self._metadata_allowed(server_id)
        for key, value in items.items():
            self.metadata_calls.append((server_id, key, value))
        server = self.servers[server_id]
        self.servers[server_id] = dataclasses.replace(server, metadata={**server.metadata, **items})

    def delete_server_metadata(self, server_id: str, key: str) -> None:
        self._metadata_allowed(server_id)
        self.metadata_calls.append((server_id, key, None))
        server = self.servers[server_id]
        self.servers[server_id] = dataclasses.replace(
            server, metadata={k: v for k, v in server.metadata.items() if k != key})

    def console_tail(self, server_id: str, lines: int) -> str:
        if self.console_fails:
            raise CloudError("console unavailable", 409)
        text = self.consoles.get(server_id, self.console)
        return "\n".join(text.split("\n")[-lines:])

    def image(self, ref: str | None = None, name: str | None = None,
              properties: Mapping[str, str] | None = None) -> Image:
        """By id; by name the newest match (the last added, as Glance's created_at) whose properties
        include ``properties``."""
        self.image_lookups.append((ref, name))
        if self.image_lookup_fails is not None:
            raise self.image_lookup_fails
        wanted = dict(properties or {})
        named = [i for i in self.images.values() if (ref and i.id == ref) or (
            not ref and name and i.name == name and all(i.properties.get(k) == v for k, v in wanted.items()))]
        if named:
            return named[-1]
        raise NotFound(f"image {ref or name!r} not found", 404)

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        if ref and ref in self.flavors.values():
            return ref
        if name and name in self.flavors:
            return self.flavors[name]
        raise NotFound(f"flavor {ref or name!r} not found", 404)

    def network_exists(self, ref: str) -> bool:
        return ref in self.networks or ref in self.networks.values()

    def network_name(self, ref: str) -> str | None:
        if ref in self.networks:
            return self.networks[ref]
        return ref if ref in self.networks.values() else None

    def port_exists(self, ref: str) -> bool:
        return any(p.id == ref for p in self.ports)

    def security_group_exists(self, ref: str) -> bool:
        return ref in self.security_groups

    def keypair_exists(self, name: str) -> bool:
        return any(k.name == name for k in self.keypair_list)

    def server_group_exists(self, ref: str) -> bool:
        return ref in self.server_groups

    def compute_limits(self) -> dict[str, int]:
        if self.limits_error is not None:
            raise self.limits_error
        return dict(self.limits)

    def flavor_size(self, ref: str) -> dict[str, int]:
        return dict(self.flavor_sizes.get(ref, {"vcpus": 1, "ram": 1024}))

    def network_quota(self) -> JSONObject:
        return dict(self.network_quotas)

    # -- floating IPs (floating_ip_pool) ------------------------------------------
    def network_id(self, ref: str) -> str | None:
        for net_id, name in self.networks.items():
            if ref in (net_id, name):
                return net_id
        return None

    def server_ports(self, server_id: str) -> list[JSONObject]:
        return [{"id": p.id, "device_id": p.device_id} for p in self.ports if p.device_id == server_id]

    def floating_ips(self, network_id: str) -> list[JSONObject]:
        return [dict(d) for d in self.fip_docs if d.get("floating_network_id") == network_id]

    def create_floating_ip(self, network_id: str, port_id: str, description: str) -> JSONObject:
        doc: JSONObject = {"id": f"fip-{next(self._ids)}", "floating_network_id": network_id, "port_id": port_id,
                           "description": description, "floating_ip_address": f"203.0.113.{len(self.fip_docs) + 1}"}
        self.fip_docs.append(doc)
        return dict(doc)

    def widen_pool(self, size: int) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    # -- reap's side -----------------------------------------------------------
    def project_ports(self) -> list[Port]:
        return list(self.ports)

    def project_floating_ips(self) -> list[FloatingIP]:
        return list(self.fips)

    def keypairs(self) -> list[Keypair]:
        return list(self.keypair_list)

    def has_block_storage(self) -> bool:
        return self.cinder

    def volumes(self) -> list[Volume]:
        return list(self.volume_list)

    def delete_port(self, port_id: str) -> None:
        self.removed.append(("port", port_id))
        self.ports = [p for p in self.ports if p.id != port_id]

    def delete_floating_ip(self, fip_id: str) -> None:
        self.removed.append(("floating_ip", fip_id))
        self.fips = [f for f in self.fips if f.id != fip_id]
        self.fip_docs = [d for d in self.fip_docs if d.get("id") != fip_id]

    def delete_keypair(self, name: str) -> None:
        self.removed.append(("keypair", name))
        self.keypair_list = [k for k in self.keypair_list if k.name != name]

    def delete_volume(self, volume_id: str) -> None:
        self.removed.append(("volume", volume_id))
        self.volume_list = [v for v in self.volume_list if v.id != volume_id]

@dataclasses.dataclass(frozen=True)
class Connection:
    """One authentication ``initchecks.run`` made through :func:`connect_to`: the arguments it passed."""

    cloud: str | None
    clouds_config: str | None
    microversion: str
    timeout: float | None
    connect_timeout: float | None
    retry: RetryPolicy | None
    recorder: Recorder | None


def connect_to(cloud: FakeCloud, connections: list[Connection] | None = None,
               error: Exception | None = None) -> Connect:
    """An ``initchecks.run(connect=...)`` that authenticates to ``cloud`` (``Cloud.connect``'s signature);
    each call's arguments go to ``connections``; ``error``: it raises that instead (a ``CloudError``:
    the cloud cannot be reached)."""

    fake = cloud

    def connect(cloud: str | None, clouds_config: str | None, microversion: str, *, timeout: float | None = None,
                connect_timeout: float | None = None, retry: RetryPolicy | None = None,
                recorder: Recorder | None = None) -> FakeCloud:
        if connections is not None:
            connections.append(Connection(cloud, clouds_config, microversion, timeout, connect_timeout, retry,
                                          recorder))
        if error is not None:
            raise error
        return fake

    return connect


def init_checks(cloud: FakeCloud, *, key_store: KeyStore | None = None, username: str = "ubuntu",
                image: Image | None = None) -> InitCheckRunner:
    """An ``initchecks.run`` that finds everything and hands the provider ``cloud``
    (and ``key_store`` when Init opens one: ``keys="open"``)."""
    from fleeting_openstack.host import default_manager
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.provider.initchecks import InitChecks

    def run(cfg: PluginConfig, connector: ConnectorConfig, *, keys: str = "open") -> InitChecks:
        strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options)
        resolved = Resolved(image=image, image_ref=IMAGE, flavor_ref=FLAVOR, username=username,
                            internal_network=None, external_network=None)
        return InitChecks(strategy=strategy, cloud=cloud, resolved=resolved,
                          keys=key_store if keys == "open" else None)

    return run


if TYPE_CHECKING:
    # The static check (scripts/lint runs mypy --strict on this file): FakeCloud is everything the
    # provider asks of the cloud, with the adapter's signatures.
    _checked: ProviderCloud = FakeCloud()
    # ... and everything Init's checks ask of the cloud they authenticate to (resolve_resources' lookups).
    _looked_up: CheckedCloud = FakeCloud()
