"""Which addresses ConnectInfo (and ``status``) hands the runner, and the image a server was
booted from (provider/addresses.py): pure choices over the server record, plus one image
lookup per image id."""

from __future__ import annotations

from fleeting_openstack.openstack.client import Address, CloudError, Image, Server
from fleeting_openstack.openstack.resources import Resolved
from fleeting_openstack.provider.addresses import Addresses, ServerImages


def server(*addresses: Address, sid: str = "s", image_id: str | None = None, v4: str = "", v6: str = "") -> Server:
    return Server(
        id=sid,
        name=f"g-{sid}",
        status="ACTIVE",
        task_state=None,
        created=0.0,
        metadata={},
        tags=[],
        addresses=list(addresses),
        image_id=image_id,
        flavor=None,
        access_ipv4=v4,
        access_ipv6=v6,
    )


def resolved(internal: str | None = None, external: str | None = None) -> Resolved:
    return Resolved(
        image=None, image_ref=None, flavor_ref="f", username="u", internal_network=internal, external_network=external
    )


FIXED4 = Address("workers", "10.0.0.7", 4, "fixed")
FIXED6 = Address("workers", "fd00::7", 6, "fixed")
OTHER4 = Address("admin", "10.9.0.7", 4, "fixed")
FLOAT4 = Address("workers", "203.0.113.7", 4, "floating")
FLOAT6 = Address("public", "2001:db8::7", 6, "floating")


def test_a_fixed_ip_is_internal_and_a_floating_ip_external():
    assert Addresses(4).of(server(FLOAT4, FIXED4)) == ("10.0.0.7", "203.0.113.7")
    assert Addresses(4).of(server(FIXED4)) == ("10.0.0.7", "")


def test_the_preferred_ip_version_first_then_network_name_and_address():
    both = server(FLOAT6, FIXED6, FLOAT4, FIXED4)
    assert Addresses(4).of(both) == ("10.0.0.7", "203.0.113.7")
    assert Addresses(6).of(both) == ("fd00::7", "2001:db8::7")
    # the same version on two networks: by network name, whatever order Nova lists them in
    assert Addresses(4).of(server(FIXED4, OTHER4)) == ("10.9.0.7", "")
    assert Addresses(4).of(server(OTHER4, FIXED4)) == ("10.9.0.7", "")
    low = Address("workers", "10.0.0.2", 4, "fixed")
    assert Addresses(4).of(server(FIXED4, low)) == ("10.0.0.2", "")


def test_the_configured_networks_restrict_the_choice():
    srv = server(OTHER4, FIXED4, FLOAT4, FLOAT6)
    assert Addresses(4, resolved(internal="workers")).of(srv) == ("10.0.0.7", "203.0.113.7")
    assert Addresses(4, resolved(external="public")).of(srv) == ("10.9.0.7", "2001:db8::7")
    # none on the configured internal network: the access address, then the external one fills in
    assert Addresses(4, resolved(internal="elsewhere")).of(srv) == ("203.0.113.7", "203.0.113.7")
    assert Addresses(4, resolved()).of(srv) == ("10.9.0.7", "203.0.113.7")  # nothing configured: all


class OwnFloatingIPs:
    """``addresses.FloatingAddresses``: the plugin's own floating IPs (floating_ip_pool)."""

    def __init__(self, **by_server: str) -> None:
        self.by_server = by_server

    def address(self, server_id: str) -> str:
        return self.by_server.get(server_id, "")


def test_the_plugins_own_floating_ip_is_the_external_address():
    fips = OwnFloatingIPs(s="198.51.100.9")
    assert Addresses(4, fips=fips).of(server(FIXED4, FLOAT4)) == ("10.0.0.7", "198.51.100.9")
    assert Addresses(4, fips=fips).of(server(FIXED4, FLOAT4, sid="t")) == ("10.0.0.7", "203.0.113.7")


def test_the_access_address_fills_what_is_missing():
    assert Addresses(4).of(server(FIXED4, v4="192.0.2.1")) == ("10.0.0.7", "192.0.2.1")
    assert Addresses(4).of(server(FIXED4, v4="10.0.0.7")) == ("10.0.0.7", "")  # the internal one again: no
    assert Addresses(6).of(server(FIXED4, v4="192.0.2.1", v6="2001:db8::1")) == ("10.0.0.7", "2001:db8::1")
    assert Addresses(6).of(server(FIXED4, v4="192.0.2.1")) == ("10.0.0.7", "192.0.2.1")  # the other version
    assert Addresses(4).of(server(v4="192.0.2.1")) == ("192.0.2.1", "192.0.2.1")  # no fixed IP at all
    assert Addresses(4).of(server(FLOAT4)) == ("203.0.113.7", "203.0.113.7")
    assert Addresses(4).of(server()) == ("", "")


class Glance:
    """``addresses.ImageSource``: images by id, counting lookups."""

    def __init__(self, *images: Image) -> None:
        self.images = {i.id: i for i in images}
        self.asked: list[str | None] = []

    def image(self, ref: str | None = None, name: str | None = None) -> Image:
        self.asked.append(ref)
        if ref not in self.images:
            raise CloudError(f"image {ref} not found", 404)
        return self.images[ref]


CONFIGURED = Image("conf", "configured", {"os_type": "linux"})


def test_the_servers_image_is_looked_up_once_per_image_id():
    debian = Image("deb", "debian-12", {"architecture": "aarch64"})
    glance = Glance(debian)
    images = ServerImages(glance, CONFIGURED)
    for sid in ("a", "b", "c"):
        assert images.of(server(sid=sid, image_id="deb")) is debian
    assert glance.asked == ["deb"]


def test_a_volume_booted_server_or_a_deleted_image_gives_the_configured_one():
    glance = Glance()
    images = ServerImages(glance, CONFIGURED)
    assert images.of(server(image_id=None)) is CONFIGURED and glance.asked == []  # boot from volume
    assert images.of(server(image_id="gone")) is CONFIGURED
    assert images.of(server(image_id="gone")) is CONFIGURED
    assert glance.asked == ["gone"]  # the miss is remembered too
    assert ServerImages(glance, None).of(server(image_id="gone2")) is None
