"""Fresh images without a restart (issue 19 item 7): ``image_name`` (narrowed by
``image_properties``, the newest active match wins) is looked up again every ``image_refresh``
and at once when a create fails because the image is gone; only new creates use it. On the
shared in-memory cloud; the real Glance and Nova prove it in
tests/devcloud/test_image_refresh_devcloud.py."""

from __future__ import annotations

import json
import logging

import pytest
from support.fakecloud import FLAVOR, FakeCloud, member, plugin_config

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.contract.instancegroup import PartialError, Settings
from fleeting_openstack.openstack.client import CloudError
from fleeting_openstack.openstack.models import Image
from fleeting_openstack.provider.group import OpenStackProvider
from fleeting_openstack.provider.imagerefresh import ImageRefresh, image_gone

OLD = Image("aaaaaaaa-0000-4000-8000-000000000001", "ci", {"ci": "true"})
NEW = Image("aaaaaaaa-0000-4000-8000-000000000002", "ci", {"ci": "true"})
OTHER = Image("aaaaaaaa-0000-4000-8000-000000000003", "ci", {"ci": "false"})
BASE = {"name": "g", "server_spec": {"name": "g-%d", "image_name": "ci", "flavorRef": "1", "networks": "none"}}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- config ---------------------------------------------------------------------------------
def test_image_refresh_defaults_to_ten_minutes_and_zero_means_only_at_init():
    cfg = load_plugin_config(BASE, env={}).config
    assert (cfg.image_refresh, dict(cfg.image_properties)) == (600.0, {})
    cfg = load_plugin_config({**BASE, "image_refresh": "0", "image_properties": {"ci": "true"}}, env={}).config
    assert (cfg.image_refresh, dict(cfg.image_properties)) == (0.0, {"ci": "true"})
    assert cfg.to_dict()["image_properties"] == {"ci": "true"}


def test_image_properties_need_image_name_and_text_values():
    by_id = {"name": "g", "server_spec": {"name": "g-%d", "imageRef": OLD.id, "flavorRef": "1", "networks": "none"}}
    with pytest.raises(Exception, match="image_properties.*image_name"):
        load_plugin_config({**by_id, "image_properties": {"ci": "true"}}, env={})
    with pytest.raises(Exception, match="image_properties"):
        load_plugin_config({**BASE, "image_properties": {"ci": True}}, env={})
    with pytest.raises(Exception, match="image_refresh"):
        load_plugin_config({**BASE, "image_refresh": "soon"}, env={})


# -- the lookup -----------------------------------------------------------------------------
def test_the_selector_narrows_the_name_and_the_newest_match_wins():
    from fleeting_openstack.openstack.resources import resolve_resources

    cloud = FakeCloud(images=[OLD, NEW, OTHER], flavors={"1": FLAVOR})
    spec = {**BASE["server_spec"], "flavor_name": "1"}
    problems: list[str] = []
    found = resolve_resources(cloud, spec, problems, image_properties={"ci": "true"})
    assert (found.image_ref, problems) == (NEW.id, [])  # OTHER is newer but not ci=true
    found = resolve_resources(cloud, spec, problems, image_properties={"ci": "no"})
    assert found.image is None and problems == ["server_spec.image_name: image 'ci' not found"]


def test_the_adapter_asks_glance_newest_first_and_checks_the_properties_itself():
    from fleeting_openstack.openstack.client import Cloud

    images = [
        {"id": "newest-wrong", "name": "ci", "status": "active", "created_at": "2026-03-01T00:00:00Z", "ci": "no"},
        {"id": "queued", "name": "ci", "status": "queued", "created_at": "2026-03-02T00:00:00Z", "ci": "true"},
        {"id": "right", "name": "ci", "status": "active", "created_at": "2026-02-01T00:00:00Z", "ci": "true",
         "marker": "m"},
        {"id": "older", "name": "ci", "status": "active", "created_at": "2026-01-01T00:00:00Z", "ci": "true"}]
    sent: list[dict[str, str]] = []

    class Answer:
        status_code, headers = 200, {}
        content = json.dumps({"images": images}).encode()
        text = content.decode()

        def json(self):
            return json.loads(self.content)

    class Glance:
        def request(self, url, method, *, raise_exc=False, params=None, json=None, microversion=None):
            sent.append(dict(params or {}))
            return Answer()

    class Region:
        def get_region_name(self, service_type=None):
            return "RegionOne"

    class Conn:
        compute = network = block_storage = None
        image, config, session, current_project_id, service_catalog = Glance(), Region(), None, "p1", []

        def close(self):
            pass

    c = Cloud(Conn(), "2.79", "test")
    assert c.image(name="ci", properties={"ci": "true", "marker": "m"}).id == "right"
    assert sent[-1] == {"name": "ci", "sort_key": "created_at", "sort_dir": "desc", "ci": "true"}  # "marker" is Glance's paging


# -- ImageRefresh ---------------------------------------------------------------------------
def test_looked_up_again_only_once_the_interval_has_passed_and_the_switch_is_logged_once(caplog):
    cloud, clock = FakeCloud(images=[OLD]), Clock()
    refresh = ImageRefresh(cloud, "ci", {}, 60.0, OLD, clock=clock)
    cloud.images[NEW.id] = NEW
    clock.t += 59
    assert refresh.image() == OLD and cloud.image_lookups == []  # not yet due
    clock.t += 1
    with caplog.at_level(logging.INFO, logger="fleeting_openstack.provider"):
        assert refresh.image() == NEW
        assert refresh.image() == NEW  # not due again: no second lookup, no second log line
    assert cloud.image_lookups == [(None, "ci")]
    switches = [r for r in caplog.records if r.getMessage().startswith("image switched")]
    assert [(r.old_image, r.new_image) for r in switches] == [(OLD.id, NEW.id)]


def test_a_failed_or_empty_lookup_keeps_the_current_image(caplog):
    cloud, clock = FakeCloud(images=[OLD]), Clock()
    refresh = ImageRefresh(cloud, "ci", {}, 10.0, OLD, clock=clock)
    cloud.image_lookup_fails = CloudError("Glance: 503", 503)
    clock.t += 10
    assert refresh.image() == OLD
    cloud.image_lookup_fails = None
    del cloud.images[OLD.id]
    clock.t += 10
    with caplog.at_level(logging.ERROR, logger="fleeting_openstack.provider"):
        assert refresh.image() == OLD
        clock.t += 10
        assert refresh.image() == OLD
    assert len([r for r in caplog.records if "matches no image" in r.getMessage()]) == 1  # once, not per look
    assert len(cloud.image_lookups) == 3


def test_while_one_create_looks_the_others_take_the_current_image():
    cloud, clock = FakeCloud(images=[OLD, NEW]), Clock()
    refresh = ImageRefresh(cloud, "ci", {}, 10.0, OLD, clock=clock)
    clock.t += 10
    with refresh._lock:  # another create's lookup in flight
        assert refresh.image() == OLD and cloud.image_lookups == []  # not blocked, not a second lookup
    assert refresh.image() == NEW and len(cloud.image_lookups) == 1


def test_gone_looks_at_once_and_says_whether_another_image_is_current():
    cloud, clock = FakeCloud(images=[OLD, NEW]), Clock()
    refresh = ImageRefresh(cloud, "ci", {}, 3600.0, NEW, clock=clock)
    del cloud.images[NEW.id]
    assert refresh.gone(NEW.id) and refresh.current == OLD  # the remaining newest, long before the interval
    assert refresh.gone(NEW.id) and len(cloud.image_lookups) == 1  # already switched: no second lookup
    del cloud.images[OLD.id]
    assert not refresh.gone(OLD.id) and refresh.current == OLD  # nothing else: the create's error stands


def test_nova_answers_that_mean_the_image_is_gone():
    assert image_gone(400, "Nova POST /servers: HTTP 400: Can not find requested image")  # the devcloud's Nova
    assert image_gone(400, f"Nova: Image {OLD.id} could not be found.")
    assert image_gone(400, f"Nova: Image {OLD.id} is not active.")
    assert not image_gone(400, "Nova: Flavor 1 could not be found.")
    assert not image_gone(403, f"Quota exceeded; Image {OLD.id} could not be found.")
    assert not image_gone(None, "Image gone could not be found")


# -- the provider ---------------------------------------------------------------------------
def start(tmp_path, cloud: FakeCloud, image: Image, **settings) -> OpenStackProvider:
    from fleeting_openstack.host import default_manager
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.provider.initchecks import InitChecks

    def run(cfg, connector, *, keys="open"):
        strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options)
        # Init's lookup on the same cloud: the newest match of image_name (and image_properties)
        found = cloud.image(name=cfg.server_spec.image_name, properties=dict(cfg.image_properties) or None)
        assert found == image
        resolved = Resolved(image=found, image_ref=found.id, flavor_ref=FLAVOR, username="ubuntu",
                            internal_network=None, external_network=None)
        return InitChecks(strategy=strategy, cloud=cloud, resolved=resolved, keys=None)

    doc = plugin_config(state_dir=str(tmp_path), **settings)
    doc["server_spec"] = {k: v for k, v in doc["server_spec"].items() if k != "imageRef"} | {"image_name": "ci"}
    provider = OpenStackProvider(checks=run)
    provider.init(json.dumps(doc).encode(), Settings())
    return provider


def booted(cloud: FakeCloud) -> list[str]:
    return [request["server"]["imageRef"] for request in cloud.created]


def test_new_creates_get_the_newer_image_after_the_interval_existing_servers_are_untouched(tmp_path):
    cloud = FakeCloud(images=[OLD], flavors={"1": FLAVOR})
    cloud.servers["old"] = member("old", group="g", image_id=OLD.id)
    provider = start(tmp_path, cloud, OLD, image_refresh="1h")
    assert provider.increase(1) == 1
    cloud.images[NEW.id] = NEW  # rebuilt tonight under the same name
    assert provider.increase(1) == 1
    assert booted(cloud) == [OLD.id, OLD.id]  # within image_refresh: the image Init found
    state = provider.state
    assert state is not None and state.creator.images is not None
    state.creator.images.clock = lambda: 10.0**9  # image_refresh has passed
    assert provider.increase(2) == 2
    assert booted(cloud) == [OLD.id, OLD.id, NEW.id, NEW.id]
    assert cloud.servers["old"].image_id == OLD.id and cloud.deleted == []  # nothing done to what exists
    assert {s.image_id for s in cloud.servers.values()} == {OLD.id, NEW.id}


def test_a_create_refused_because_the_image_is_gone_takes_the_remaining_newest_at_once(tmp_path):
    cloud = FakeCloud(images=[OLD, NEW], flavors={"1": FLAVOR})
    cloud.check_images = True
    provider = start(tmp_path, cloud, NEW, image_refresh="1h")
    del cloud.images[NEW.id]
    assert provider.increase(1) == 1
    assert booted(cloud) == [NEW.id, OLD.id]  # refused (nothing made), then the remaining newest
    assert [s.image_id for s in cloud.servers.values()] == [OLD.id]
    state = provider.state
    assert state is not None and state.creator.breaker is not None


def test_image_refresh_zero_resolves_at_init_only(tmp_path):
    cloud = FakeCloud(images=[OLD], flavors={"1": FLAVOR})
    cloud.check_images = True
    provider = start(tmp_path, cloud, OLD, image_refresh="0")
    state = provider.state
    assert state is not None and state.creator.images is None
    cloud.images = {NEW.id: NEW}
    with pytest.raises(PartialError, match="Can not find requested image"):  # refused: no lookup after Init
        provider.increase(1)
    assert booted(cloud) == [OLD.id] and cloud.image_lookups == [(None, "ci")]


def test_the_selector_applies_to_every_look(tmp_path):
    cloud = FakeCloud(images=[OLD], flavors={"1": FLAVOR})
    provider = start(tmp_path, cloud, OLD, image_refresh="1h", image_properties={"ci": "true"})
    cloud.images[OTHER.id] = OTHER  # newer, same name, not ci=true
    state = provider.state
    assert state is not None and state.creator.images is not None
    state.creator.images.clock = lambda: 10.0**9
    assert provider.increase(1) == 1 and booted(cloud) == [OLD.id]


# -- status ---------------------------------------------------------------------------------
def test_status_says_which_image_new_servers_get():
    from fleeting_openstack.cli.status import format_status

    class Target:
        runner = ""
        use_external_addr = False
        config = load_plugin_config({**BASE, "image_refresh": "2m"}, env={}).config

    text = format_status(Target(), [], [], {"id": NEW.id, "name": "ci"})  # type: ignore[arg-type]
    assert f"new servers get image ci ({NEW.id}) (image_name looked up every 120s)" in text


def test_status_shows_the_image_a_server_runs_also_when_it_is_gone():
    from fleeting_openstack.cli.status import image_row

    assert image_row(member("a", image_id=NEW.id), NEW) == {"id": NEW.id, "name": "ci"}
    # deleted: ServerImages falls back to the configured image, status keeps the server's own id
    assert image_row(member("b", image_id=NEW.id), OLD) == {"id": NEW.id, "name": None}
    assert image_row(member("c", image_id=NEW.id), None) == {"id": NEW.id, "name": None}
    assert image_row(member("d"), OLD) == {"id": OLD.id, "name": "ci"}  # booted from a volume: the configured
