"""openstack/client.py on a connection of the test's own (the Protocols of openstack/sdk.py):
every call is a raw request, lookups behave as openstacksdk's find_* did, and the
seams the caller hands in (the recorder, the Nova observer) see what they should."""

from __future__ import annotations

import json
import warnings

import pytest

from fleeting_openstack.openstack.client import Cloud, CloudError, InvalidId, NotFound, NovaCall
from fleeting_openstack.openstack.recording import ServiceMap, instrument

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
NET = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


class Answer:
    def __init__(self, status: int, doc: object = None, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}
        self.content = b"" if doc is None else json.dumps(doc).encode()
        self.text = self.content.decode()

    def json(self) -> object:
        return json.loads(self.content)


class Client:
    """One service: answers by (method, url); records every request."""

    def __init__(self, routes: dict[tuple[str, str], Answer], log: list[tuple[str, str, dict, object, object]]) -> None:
        self.routes, self.log = routes, log

    def request(self, url, method, *, raise_exc=False, params=None, json=None, microversion=None):
        assert raise_exc is False
        self.log.append((method, url, dict(params or {}), json, microversion))
        return self.routes.get((method, url), Answer(404, {"itemNotFound": {"message": f"{url} not found"}}))


class Region:
    def get_region_name(self, service_type=None):
        return "RegionOne"


class Conn:
    def __init__(self, **routes: dict[tuple[str, str], Answer]) -> None:
        self.log: list[tuple[str, str, dict, object, object]] = []
        self.compute = Client(routes.get("compute", {}), self.log)
        self.network = Client(routes.get("network", {}), self.log)
        self.image = Client(routes.get("image", {}), self.log)
        self.block_storage = Client(routes.get("volume", {}), self.log)
        self.config = Region()
        self.session = None
        self.current_project_id = "p1"
        self.service_catalog = [{"type": "compute"}, {"type": "volumev3"}]
        self.closed = False

    def close(self) -> None:
        self.closed = True


def cloud(**routes: dict[tuple[str, str], Answer]) -> tuple[Cloud, Conn]:
    conn = Conn(**routes)
    return Cloud(conn, "2.79", "test"), conn


def test_lookups_try_the_id_then_the_one_resource_of_that_name():
    c, conn = cloud(
        network={("GET", f"/networks/{NET}"): Answer(200, {"network": {"id": NET, "name": "workers"}}),
                 ("GET", "/networks"): Answer(200, {"networks": [{"id": NET, "name": "workers"}]}),
                 ("GET", "/ports"): Answer(200, {"ports": []})},
        image={("GET", "/images"): Answer(200, {"images": [
            {"id": "old", "name": "u", "status": "active", "created_at": "2026-01-01T00:00:00Z"},
            {"id": IMAGE, "name": "u", "status": "active", "created_at": "2026-02-01T00:00:00Z",
             "os_distro": "ubuntu", "os_admin_user": "ubuntu", "min_disk": 3, "visibility": "public"},
            {"id": "queued", "name": "u", "status": "queued", "created_at": "2026-03-01T00:00:00Z"}]})},
    )
    assert c.network_name(NET) == "workers" and c.network_id("workers") == NET
    assert ("GET", "/networks", {"name": "workers"}, None, None) in conn.log  # the id first, then by name
    assert not c.port_exists("nope") and not c.network_exists("a/b")
    image = c.image(name="u")  # the newest active one
    assert (image.id, image.min_disk) == (IMAGE, 3)
    assert image.properties == {"os_distro": "ubuntu", "os_admin_user": "ubuntu"}  # Glance's own fields are not
    with pytest.raises(NotFound, match="not a valid image id"):
        c.image(ref="../x")


def test_two_resources_of_one_name_are_an_error_not_a_guess():
    c, _ = cloud(network={("GET", "/security-groups"): Answer(200, {"security_groups": [
        {"id": "a", "name": "web"}, {"id": "b", "name": "web"}]})})
    with pytest.raises(CloudError, match="2 security_groups are named 'web': use the id"):
        c.security_group_exists("web")


def test_flavors_by_id_then_by_name_in_the_list():
    c, conn = cloud(compute={("GET", "/flavors/1"): Answer(200, {"flavor": {"id": "1", "name": "m1.tiny"}}),
                             ("GET", "/flavors"): Answer(200, {"flavors": [{"id": "1", "name": "m1.tiny"},
                                                                            {"id": "2", "name": "a/b"}]})})
    assert c.flavor_id(ref="1") == "1" and c.flavor_id(name="m1.tiny") == "1"
    conn.log.clear()
    assert c.flavor_id(name="a/b") == "2"  # a name that cannot go into a URL: only the list is asked
    assert [entry[:2] for entry in conn.log] == [("GET", "/flavors")]
    with pytest.raises(NotFound, match="flavor 'm2' not found"):
        c.flavor_id(name="m2")
    assert all(entry[4] == "2.79" for entry in conn.log)  # Nova's microversion on every request


def test_deletes_of_what_is_gone_count_as_done_and_reap_lists_are_read():
    c, conn = cloud(
        network={("GET", "/ports"): Answer(200, {"ports": [{"id": "p", "name": "x", "device_id": "", "tags": ["g"]}]}),
                 ("DELETE", "/floatingips/f1"): Answer(204)},
        volume={("GET", "/volumes/detail"): Answer(200, {"volumes": [
            {"id": "v", "name": "d", "status": "available", "attachments": [], "size": 1,
             "created_at": "2026-01-01T00:00:00", "metadata": {"k": "v"}}]})},
        compute={("GET", "/os-keypairs"): Answer(200, {"keypairs": [{"keypair": {"name": "ops"}}]})},
    )
    c.delete_port("gone")
    c.delete_volume("gone")
    c.delete_keypair("gone")
    c.delete_floating_ip("f1")
    (port,) = c.project_ports()
    assert (port.id, port.tags) == ("p", ("g",))
    assert ("GET", "/ports", {"project_id": "p1"}, None, None) in conn.log
    (volume,) = c.volumes()
    assert (volume.id, volume.attached, volume.created, dict(volume.metadata)) == ("v", False, 1767225600.0, {"k": "v"})
    assert [k.name for k in c.keypairs()] == ["ops"]
    assert c.has_block_storage() and c.region == "RegionOne"


def test_the_nova_observer_sees_each_answered_call_until_stopped():
    c, _ = cloud(compute={("GET", "/servers/detail"): Answer(200, {"servers": []})})
    seen: list[NovaCall] = []
    stop = c.observe_nova(seen.append)
    assert list(c.list_servers({"name": "^g-"})) == []
    assert seen == [NovaCall("GET", "/servers/detail", {"name": "^g-", "limit": "1000"}, {"servers": []})]
    stop()
    list(c.list_servers({}))
    assert len(seen) == 1


def test_the_recorder_is_told_of_every_request_answered_or_not():
    recorded: list[tuple[str, str, str, float]] = []

    class Recorder:
        def api_request(self, service, method, status, seconds):
            recorded.append((service, method, status, seconds))

    class Request:
        def __init__(self, url):
            self.url, self.method = url, "GET"

    def send(request, **kwargs):
        if "down" in request.url:
            raise ConnectionError("refused")
        return Answer(200)

    catalog = [{"type": "compute", "endpoints": [{"url": "http://n/compute/v2.1"}]}]
    timed = instrument(send, ServiceMap(lambda: catalog), Recorder(), clock=iter(range(100)).__next__)
    timed(Request("http://n/compute/v2.1/servers"))
    with pytest.raises(ConnectionError):
        timed(Request("http://down/identity/v3/auth/tokens"))
    assert recorded == [("compute", "GET", "200", 1), ("identity", "GET", "error", 1)]


def test_no_sdk_deprecation_from_the_adapters_own_calls():
    """Raw requests only: no openstacksdk resource is built, no find_* called."""
    c, _ = cloud(network={("GET", f"/networks/{NET}"): Answer(200, {"network": {"id": NET, "name": "w"}})})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert c.network_exists(NET) and not c.keypair_exists("k") and not c.server_group_exists("g")


def test_sdk_deprecations_fail_a_unit_test():
    """tests/unit/conftest.py: what the adapter used to trigger is an error in this tier."""
    import openstack.warnings as sdk_warnings

    def old_call() -> None:
        import openstack.resource  # noqa: F401 - attribute the warning to the SDK module, as the SDK does

        warnings.warn_explicit("ignore_missing is deprecated", sdk_warnings.RemovedInSDK60Warning,
                               "resource.py", 1, module="openstack.resource")

    with pytest.raises(sdk_warnings.RemovedInSDK60Warning):
        old_call()


SRV = "8a6e2d3c-55a4-4d8e-9b7e-2f0c3f5b9a11"


def test_server_actions_and_the_metadata_mark_are_plain_nova_requests():
    c, conn = cloud(compute={("POST", f"/servers/{SRV}/action"): Answer(202),
                             ("POST", f"/servers/{SRV}/metadata"): Answer(200, {"metadata": {"k": "v"}}),
                             ("DELETE", f"/servers/{SRV}/metadata/fleeting-suspend"): Answer(204)})
    for action in ("os-stop", "os-start", "suspend", "resume", "shelve", "unshelve"):
        c.server_action(SRV, action)
    c.set_server_metadata(SRV, {"k": "v"})
    c.delete_server_metadata(SRV, "fleeting-suspend")
    c.delete_server_metadata(SRV, "gone")  # a key already gone counts as removed (Nova's 404)
    assert [(m, u, j) for m, u, _, j, _ in conn.log[:6]] == [
        ("POST", f"/servers/{SRV}/action", {a: None}) for a in
        ("os-stop", "os-start", "suspend", "resume", "shelve", "unshelve")]
    assert conn.log[6][:4] == ("POST", f"/servers/{SRV}/metadata", {}, {"metadata": {"k": "v"}})
    assert all(entry[4] == "2.79" for entry in conn.log)
    with pytest.raises(ValueError, match="not a server action"):
        c.server_action(SRV, "os-migrateLive")
    with pytest.raises(InvalidId, match="not a valid OpenStack id"):
        c.server_action("../x", "os-stop")


def test_a_refused_action_is_not_retried_and_names_novas_reason():
    c, conn = cloud(compute={("POST", f"/servers/{SRV}/action"): Answer(
        409, {"conflictingRequest": {"message": "Cannot 'os-start' instance while it is in vm_state active"}})})
    with pytest.raises(CloudError, match="409.*vm_state active"):
        c.server_action(SRV, "os-start")
    assert len(conn.log) == 1
