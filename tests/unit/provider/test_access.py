"""ConnectInfo and Heartbeat for member servers (provider/access.py): what the runner's
connector_config leaves empty is filled in, the instance key is derived again from the
master secret and the server's salt, and a server whose key another master secret made
is refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from fleeting_openstack.config.identity import META_KEY_CHECK, META_KEY_TYPE, META_SALT
from fleeting_openstack.contract.instancegroup import ConnectorConfig, InstanceUnhealthy, Settings
from fleeting_openstack.openstack.client import Address, Image, Server
from fleeting_openstack.provider.access import Access
from fleeting_openstack.provider.addresses import Addresses, ServerImages
from fleeting_openstack.provider.keys import KeyPair, KeyStore, new_salt
from fleeting_openstack.provider.safety import KeyGuard

IMAGES = {
    "deb-arm": Image("deb-arm", "debian-12-arm", {"architecture": "aarch64"}),
    "win": Image("win", "windows", {"os_type": "windows", "hw_architecture": "x86_64"}),
    "odd": Image("odd", "odd", {"architecture": "riscv64"}),
}


class Glance:
    """``addresses.ImageSource``."""

    def image(self, ref: str | None = None, name: str | None = None) -> Image:
        return IMAGES[ref or ""]


def server(
    status: str = "ACTIVE", *, image_id: str | None = None, fault: str = "", metadata: dict[str, str] | None = None
) -> Server:
    return Server(
        id="s1",
        name="g-1",
        status=status,
        task_state=None,
        created=0.0,
        metadata=metadata or {},
        tags=[],
        addresses=[Address("workers", "10.0.0.7", 4, "fixed"), Address("public", "203.0.113.7", 4, "floating")],
        image_id=image_id,
        flavor=None,
        fault=fault,
    )


def access(
    connector: ConnectorConfig | None = None,
    keys: object = None,
    *,
    configured: Image | None = None,
    username: str = "debian",
) -> Access:
    connector = connector or ConnectorConfig()
    guard = KeyGuard(keys, static_credentials=connector.use_static_credentials, state_dir="/state")
    return Access(Settings(connector), Addresses(4), ServerImages(Glance(), configured), keys, guard, username)


def keyed(keys: KeyStore, salt: str | None = None, **extra: str) -> dict[str, str]:
    """The metadata the plugin writes beside a generated key."""
    salt = salt or new_salt()
    return {META_SALT: salt, META_KEY_CHECK: keys.key_check(salt), **extra}


def test_what_connector_config_leaves_empty_is_filled_in():
    info = access(ConnectorConfig(use_static_credentials=True, key=b"k")).connect_info(server(image_id="deb-arm"))
    assert (info.id, info.internal_addr, info.external_addr) == ("s1", "10.0.0.7", "203.0.113.7")
    c = info.connector
    assert (c.username, c.protocol, c.os, c.arch, c.key) == ("debian", "ssh", "linux", "arm64", b"k")


def test_os_and_architecture_come_from_the_servers_image():
    static = ConnectorConfig(use_static_credentials=True)
    win = access(static).connect_info(server(image_id="win")).connector
    assert (win.os, win.arch) == ("windows", "amd64")  # hw_architecture, x86_64 in Go's words
    assert access(static).connect_info(server(image_id="odd")).connector.arch == "riscv64"  # unknown: as is
    plain = access(static).connect_info(server()).connector  # boots from a volume, no image configured
    assert (plain.os, plain.arch) == ("linux", "")
    configured = access(static, configured=IMAGES["win"]).connect_info(server()).connector
    assert (configured.os, configured.arch) == ("windows", "amd64")


def test_what_connector_config_sets_is_kept():
    mine = ConnectorConfig(
        username="root", protocol="winrm", os="freebsd", arch="386", use_static_credentials=True, password="pw"
    )
    c = access(mine).connect_info(server(image_id="win")).connector
    assert (c.username, c.protocol, c.os, c.arch, c.password, c.key) == ("root", "winrm", "freebsd", "386", "pw", b"")


def test_the_instance_key_is_derived_again_from_the_servers_salt(tmp_path):
    keys = KeyStore(tmp_path)
    metadata = keyed(keys)
    info = access(keys=keys).connect_info(server(metadata=metadata))
    # the same key (its OpenSSH encoding carries a random check word: compare the public halves)
    private = serialization.load_ssh_private_key(info.connector.key, password=None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public.decode() == keys.instance_key(metadata[META_SALT]).public_key_openssh
    other = keys.instance_key(new_salt()).public_key_openssh
    assert public.decode() != other


class TypedKeys:
    """A key store that says which key type it was asked for (RSA keys take long to make)."""

    def instance_key(self, salt: str, key_type: str = "ed25519") -> KeyPair:
        return KeyPair(private_key_pem=f"{key_type} key of {salt}".encode(), public_key_openssh="ssh-x")

    def key_check(self, salt: str) -> str:
        return "check"


def test_the_key_type_in_the_metadata_is_used():
    salt = new_salt()
    rsa = access(keys=TypedKeys()).connect_info(server(metadata={META_SALT: salt, META_KEY_TYPE: "rsa"}))
    assert rsa.connector.key == f"rsa key of {salt}".encode()
    plain = access(keys=TypedKeys()).connect_info(server(metadata={META_SALT: salt}))
    assert plain.connector.key == f"ed25519 key of {salt}".encode()


def test_a_server_without_a_salt_needs_static_credentials(tmp_path):
    with pytest.raises(RuntimeError, match=f"no {META_SALT} metadata.*use static credentials"):
        access(keys=KeyStore(tmp_path)).connect_info(server())
    # with static credentials (or no key store) nothing is derived and nothing is missing
    static = access(ConnectorConfig(use_static_credentials=True, key=b"k"), keys=KeyStore(tmp_path))
    assert static.connect_info(server()).connector.key == b"k"
    assert access(keys=None).connect_info(server()).connector.key == b""


def test_a_server_whose_key_another_master_secret_made_is_refused(tmp_path):
    other = keyed(KeyStore(tmp_path / "lost"))  # made before the state dir was lost
    keys = KeyStore(tmp_path / "new")
    with pytest.raises(RuntimeError, match="another master secret"):
        access(keys=keys).connect_info(server(metadata=other))
    with pytest.raises(InstanceUnhealthy, match="cannot work"):
        access(keys=keys).heartbeat(server(metadata=other))
    # static credentials do not use the generated key: nothing to refuse
    static = access(ConnectorConfig(use_static_credentials=True), keys=keys)
    assert static.connect_info(server(metadata=other)).id == "s1"
    static.heartbeat(server(metadata=other))


def test_only_an_active_server_is_connected_to():
    for status in ("BUILD", "ERROR", "SHUTOFF"):
        with pytest.raises(RuntimeError, match=f"server s1 is {status}, not ACTIVE"):
            access().connect_info(server(status))


def test_heartbeat_tells_why_a_server_cannot_be_used(tmp_path):
    keys = KeyStore(tmp_path)
    access(keys=keys).heartbeat(server(metadata=keyed(keys)))  # fine: no exception
    with pytest.raises(InstanceUnhealthy, match="server s1 is ERROR: No valid host was found"):
        access().heartbeat(server("ERROR", fault="No valid host was found"))
    with pytest.raises(InstanceUnhealthy, match=r"server s1 is SHUTOFF$"):
        access().heartbeat(server("SHUTOFF"))
