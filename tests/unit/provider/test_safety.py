"""Restart and key safety (provider/safety.py): the key check guard, adopting the Go plugin's
servers, re-tagging, Init with the image or flavor gone, the create helpers Init sets up,
and the name-index lock shared across processes."""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping

import pytest

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.config.identity import META_CLUSTER, META_KEY_CHECK, META_SALT, group_tag
from fleeting_openstack.openstack.client import CloudError, NotFound, Server
from fleeting_openstack.openstack.resources import Resolved
from fleeting_openstack.provider import safety
from fleeting_openstack.provider.keys import KeyStore, new_salt
from fleeting_openstack.provider.safety import KeyGuard

TAG = group_tag("g")


def server(sid: str, *, tags: tuple[str, ...] = (), metadata: Mapping[str, str] | None = None) -> Server:
    return Server(
        id=sid,
        name=f"g-{sid}",
        status="ACTIVE",
        task_state=None,
        created=0.0,
        metadata=dict(metadata or {}),
        tags=list(tags),
        addresses=[],
        image_id=None,
        flavor=None,
    )


# -- the key check ------------------------------------------------------------------------------
def test_a_key_another_master_secret_made_is_lost_and_logged_once(tmp_path, caplog):
    before, after = KeyStore(tmp_path / "lost"), KeyStore(tmp_path / "now")
    salt = new_salt()
    theirs = server("old", metadata={META_SALT: salt, META_KEY_CHECK: before.key_check(salt)})
    ours = server("new", metadata={META_SALT: salt, META_KEY_CHECK: after.key_check(salt)})
    legacy = server("legacy", metadata={META_SALT: salt})  # made before key checks existed
    guard = KeyGuard(after, static_credentials=False, state_dir="/var/lib/x")
    caplog.set_level(logging.ERROR, "fleeting_openstack.safety")
    assert guard.lost(theirs) and guard.lost(theirs)
    assert not guard.lost(ours) and not guard.lost(legacy) and not guard.lost(server("plain"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "another master secret" in errors[0].getMessage()
    assert (errors[0].server, errors[0].state_dir) == ("old", "/var/lib/x")


def test_static_credentials_check_no_keys(tmp_path):
    before, after = KeyStore(tmp_path / "lost"), KeyStore(tmp_path / "now")
    salt = new_salt()
    theirs = server("old", metadata={META_SALT: salt, META_KEY_CHECK: before.key_check(salt)})
    static = KeyGuard(after, static_credentials=True, state_dir="/x")
    assert static.check is None and not static.lost(theirs)
    assert KeyGuard(None, static_credentials=False, state_dir="/x").check is None  # no key store (status)


# -- tags ----------------------------------------------------------------------------------------
class Tagger:
    """``safety.Tagger``: every server of the project; ``broken``: ids add_tag fails for."""

    def __init__(self, *servers: Server) -> None:
        self.servers = list(servers)
        self.broken: set[str] = set()
        self.tagged: list[tuple[str, str]] = []
        self.listings: list[dict[str, str]] = []

    def add_tag(self, server_id: str, tag: str) -> None:
        if server_id in self.broken:
            raise CloudError("HTTP 409", 409)
        self.tagged.append((server_id, tag))

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        self.listings.append(dict(filters))
        return iter(self.servers)


def test_the_go_plugins_servers_are_tagged():
    cloud = Tagger(
        server("go1", metadata={META_CLUSTER: "g"}),
        server("go2", metadata={META_CLUSTER: "g"}),
        server("go3", metadata={META_CLUSTER: "g"}),
        server("ours", tags=(TAG,), metadata={META_CLUSTER: "g"}),
        server("theirs", metadata={META_CLUSTER: "h"}),
        server("nobodys"),
    )
    cloud.broken = {"go2"}  # best effort: the others are still tagged
    safety.adopt_legacy_servers(cloud, "g")
    assert cloud.listings == [{}] and cloud.tagged == [("go1", TAG), ("go3", TAG)]


def test_retag_is_best_effort():
    cloud = Tagger()
    safety.retag(cloud, TAG, server("a"))
    cloud.broken = {"b"}
    safety.retag(cloud, TAG, server("b"))  # no exception: it stays a member by metadata
    assert cloud.tagged == [("a", TAG)]


# -- Init with the image or flavor gone ------------------------------------------------------
IMAGE_GONE = "server_spec.imageRef: image 1234 not found"
FLAVOR_GONE = "server_spec.flavor_name: flavor m1.gone not found"
NO_USER = "no login user: set connector_config.username, or the image property os_admin_user"
OTHER = "server_spec.networks[0]: network nope not found"


def test_a_group_with_servers_stays_manageable_when_its_image_is_gone():
    problems = [IMAGE_GONE, NO_USER, OTHER]
    blocker = safety.tolerate_missing_image(problems, lambda: [server("a")])
    assert problems == [OTHER]  # what is still wrong fails Init
    assert blocker == f"creates are disabled: {IMAGE_GONE}; {NO_USER} (fix plugin_config and restart the runner)"


def test_a_flavor_gone_is_tolerated_but_not_a_missing_login_user():
    problems = [FLAVOR_GONE, NO_USER]
    blocker = safety.tolerate_missing_image(problems, lambda: [server("a")])
    assert problems == [NO_USER] and blocker.startswith(f"creates are disabled: {FLAVOR_GONE} (")


def test_a_new_group_or_an_unknown_one_refuses_as_before():
    def unlistable() -> list[Server]:
        raise CloudError("HTTP 503", 503)

    for members in (lambda: [], unlistable):
        problems = [IMAGE_GONE, NO_USER]
        assert safety.tolerate_missing_image(problems, members) == ""
        assert problems == [IMAGE_GONE, NO_USER]


def test_nothing_to_tolerate_asks_nobody():
    asked: list[int] = []
    problems = [OTHER]
    assert safety.tolerate_missing_image(problems, lambda: asked.append(1) or []) == ""
    assert problems == [OTHER] and asked == []


# -- the create helpers -------------------------------------------------------------------------
class Lookups:
    """The two lookups create_helpers makes: flavors (by id or name) and the floating IP pool."""

    def __init__(self) -> None:
        self.flavors = {"m1.large": "33333333-0000-4000-8000-000000000003"}
        self.networks = {"public": "44444444-0000-4000-8000-000000000004"}
        self.asked: list[tuple[str | None, str | None]] = []

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        self.asked.append((ref, name))
        if ref is not None:
            return ref
        if name not in self.flavors:
            raise NotFound(f"flavor {name} not found", 404)
        return self.flavors[name]

    def network_id(self, ref: str) -> str | None:
        return self.networks.get(ref)


def config(**settings: object):
    spec = {
        "name": "g-%d",
        "imageRef": "11111111-1111-4111-8111-111111111111",
        "flavorRef": "f",
        "networks": "none",
        "availability_zone": "az1",
    }
    return load_plugin_config({"name": "g", "server_spec": spec, **settings}).config


RESOLVED = Resolved(
    image=None, image_ref=None, flavor_ref="flavor-0", username="u", internal_network=None, external_network=None
)


def test_fallback_flavors_and_zones_come_after_the_configured_ones():
    cloud = Lookups()
    problems: list[str] = []
    by_id = "22222222-0000-4000-8000-000000000002"
    cfg = config(flavor_fallbacks=[by_id, "m1.large", "m1.gone"], availability_zone_fallbacks=["az2"])
    _, choices, fips = safety.create_helpers(cfg, cloud, RESOLVED, problems)
    assert cloud.asked == [(by_id, None), (None, "m1.large"), (None, "m1.gone")]  # an id is not looked up by name
    assert problems == ["flavor_fallbacks[2]: flavor m1.gone not found"]
    assert fips is None  # no floating_ip_pool
    assert choices.current == ("flavor-0", "az1")
    tried = [choices.current]
    while choices.advance(choices.current, "No valid host was found"):
        tried.append(choices.current)
    flavors = ["flavor-0", by_id, "33333333-0000-4000-8000-000000000003"]
    # every configured choice is tried, in an order limiter.Choices decides
    assert {f for f, _ in tried} == set(flavors) and {z for _, z in tried} == {"az1", "az2"}


def test_a_floating_ip_pool_that_does_not_exist_is_a_problem():
    problems: list[str] = []
    _, _, fips = safety.create_helpers(config(floating_ip_pool="public"), Lookups(), RESOLVED, problems)
    assert fips is not None and fips.pool_id == "44444444-0000-4000-8000-000000000004" and problems == []
    _, _, fips = safety.create_helpers(config(floating_ip_pool="nope"), Lookups(), RESOLVED, problems)
    assert problems == ["floating_ip_pool: network 'nope' not found"]


# -- the name index lock --------------------------------------------------------------------------
def test_locked_is_exclusive_and_private(tmp_path):
    path = tmp_path / "state" / "index-g"
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait(2)
        with safety.locked(path):  # its own open file: waits for the first holder, as another process would
            order.append("other in")

    thread = threading.Thread(target=other)
    thread.start()
    with safety.locked(path):
        inside.set()
        time.sleep(0.05)
        order.append("first out")
    thread.join(2)
    assert order == ["first out", "other in"]
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(path) + ".lock").st_mode) == 0o600


def test_locked_releases_on_error(tmp_path):
    path = tmp_path / "index-g"
    with pytest.raises(ValueError), safety.locked(path):
        raise ValueError("boom")
    done = threading.Event()

    def again() -> None:
        with safety.locked(path):
            done.set()

    threading.Thread(target=again, daemon=True).start()
    assert done.wait(1)
