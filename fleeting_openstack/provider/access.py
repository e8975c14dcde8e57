"""How the runner reaches a member server (ConnectInfo) and whether it still can (Heartbeat).

* Addresses: ``addresses.Addresses`` (the same ``status`` shows).
* The connector: what the runner's ``connector_config`` leaves empty is filled in —
  username from Init (strategy/image), ``ssh``, OS and architecture from the server's
  image properties (``x86_64`` -> ``amd64``, ``aarch64`` -> ``arm64``).
* Keys: without static credentials, the server's private key is derived again from
  the master secret and the salt in its metadata (``keys.KeyStore``); a server whose
  key check shows another master secret made it is refused (it is being replaced).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_KEY_TYPE, META_SALT
from fleeting_openstack.contract.instancegroup import ConnectInfo, InstanceUnhealthy

if TYPE_CHECKING:
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.addresses import Addresses, ServerImages
    from fleeting_openstack.provider.keys import KeyStore
    from fleeting_openstack.provider.safety import KeyGuard


class Access:
    """ConnectInfo and Heartbeat answers for member servers."""

    def __init__(
        self,
        settings: Settings,
        addresses: Addresses,
        images: ServerImages,
        keys: KeyStore | None,
        guard: KeyGuard,
        username: str,
    ) -> None:
        self.settings, self.addresses, self.images = settings, addresses, images
        self.keys, self.guard, self.username = keys, guard, username

    def connect_info(self, server: Server) -> ConnectInfo:
        instance_id = server.id
        if server.status != "ACTIVE":
            raise RuntimeError(f"server {instance_id} is {server.status}, not ACTIVE")
        internal, external = self.addresses.of(server)
        connector = self.settings.connector
        # What the runner left empty is filled from what the plugin knows.
        username = connector.username or self.username
        protocol = connector.protocol or "ssh"
        image = self.images.of(server)
        os_name = connector.os or (image.properties.get("os_type") if image else None) or "linux"
        arch = connector.arch
        if not arch and image:
            found = image.properties.get("architecture") or image.properties.get("hw_architecture")
            if found:
                arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(found, found)
        key = connector.key
        if not connector.use_static_credentials and self.keys is not None:
            if self.guard.lost(server):
                raise RuntimeError(
                    f"server {instance_id}: its SSH key was made from another master secret "
                    f"(credentials.state_dir lost or replaced); it is being replaced"
                )
            salt = server.metadata.get(META_SALT)
            if not salt:
                raise RuntimeError(
                    f"server {instance_id} has no {META_SALT} metadata: it was not "
                    "created with a generated key; use static credentials for it"
                )
            key = self.keys.instance_key(salt, server.metadata.get(META_KEY_TYPE, "ed25519")).private_key_pem
        filled = replace(connector, username=username, protocol=protocol, os=os_name, arch=arch, key=key)
        return ConnectInfo(id=instance_id, connector=filled, internal_addr=internal, external_addr=external)

    def heartbeat(self, server: Server) -> None:
        """Raises ``InstanceUnhealthy`` when the runner cannot use the server. A server the plugin
        suspended (its mark, any status but ERROR) is healthy: the runner parked it."""
        from fleeting_openstack.provider.states import SuspendMark

        if SuspendMark.of(server.metadata) is not None and server.status.upper() not in ("ERROR", "UNKNOWN"):
            return
        if server.status != "ACTIVE":
            fault = f": {server.fault}" if server.fault else ""
            raise InstanceUnhealthy(f"server {server.id} is {server.status}{fault}")
        if self.guard.lost(server):
            raise InstanceUnhealthy(f"server {server.id}: its SSH key cannot work (state dir lost or replaced)")
