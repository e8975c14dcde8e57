"""Restart and key safety, and the create helpers Init sets up (provider.py).

* **Key check**: beside each instance's salt the provider stores
  ``fleeting-key-check`` = HMAC-SHA256(master secret, salt), truncated. A
  server whose check does not match this process's master secret was created
  with another state dir (lost, replaced, or a second runner): its keys
  cannot work, so it is reported ``deleting`` and deleted, logged at error
  with what to do.
* **Init with the image or flavor gone** (routine image rotation): when the
  group still has servers, Init succeeds so they stay manageable (Update,
  Decrease, ConnectInfo); every create fails with the reason until the
  configuration is fixed.
* **Name index across processes**: read-increment-write under an exclusive
  ``flock`` of ``<state_dir>/index-<group>.lock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("fleeting_openstack.safety")

_IMAGE_FLAVOR = ("server_spec.imageRef", "server_spec.image_name", "server_spec.flavorRef",
                 "server_spec.flavor_name")


def key_mismatch(keys: Any, metadata: Any) -> bool:
    """True when the server's key check proves another master secret made its key."""
    salt, check = metadata.get("fleeting-key-salt"), metadata.get("fleeting-key-check")
    if keys is None or not salt or not check:
        return False  # no generated key, or created before key checks existed
    import hmac

    try:
        return not hmac.compare_digest(keys.key_check(salt), check)
    except ValueError:
        return True  # a salt this plugin never writes


def keys_lost(provider: Any, server: Any) -> bool:
    """True (and logged at error once per server) when the server's key check proves a lost state dir."""
    if provider.observe or provider.settings.connector.use_static_credentials or \
            not key_mismatch(provider.keys, server.metadata):
        return False
    if server.id not in provider._key_mismatch:
        provider._key_mismatch.add(server.id)
        log.error("server's SSH key cannot work: it was made from another master secret (the state dir "
                  "was lost or replaced); the plugin deletes it and the runner replaces it. Restore the "
                  "original credentials.state_dir (master.key) to keep such servers",
                  extra={"server": server.id, "server_name": server.name,
                         "state_dir": provider.cfg.credentials.state_dir})
    return True


def retag(provider: Any, server: Any) -> None:
    """A member found by its metadata whose tag was removed: tag it again (best effort)."""
    from fleeting_openstack.provider.group import group_tag

    if provider.observe:
        return
    try:
        provider.cloud.add_tag(server.id, group_tag(provider.cfg.name))
        log.info("re-tagged a group server whose tag was removed", extra={"server": server.id})
    except Exception as exc:  # noqa: BLE001 - it stays a member by metadata
        log.debug("could not re-tag %s: %s", server.id, exc)


def tolerate_missing_image(provider: Any, problems: list[str]) -> str:
    """Drop image/flavor misses from ``problems`` when the group has servers; return the blocker text."""
    missing = [p for p in problems if p.startswith(_IMAGE_FLAVOR)]
    if provider.observe or not missing:
        return ""
    try:
        members = provider._group_servers()
    except Exception as exc:  # noqa: BLE001 - cannot tell: refuse as before
        log.debug("could not list the group: %s", exc)
        return ""
    if not members:
        return ""  # a new group: a typo, not a rotation; Init refuses
    if any(p.startswith(_IMAGE_FLAVOR[:2]) for p in missing):
        # the login user came from the image: a consequence, not a problem of its own
        missing += [p for p in problems if p.startswith("no login user")]
    for p in missing:
        problems.remove(p)
    text = "; ".join(missing)
    log.error("configured image or flavor not found; the group stays manageable but creates fail until "
              "plugin_config is fixed: %s", text, extra={"servers": len(members)})
    return f"creates are disabled: {text} (fix plugin_config and restart the runner)"


def create_helpers(provider: Any, problems: list[str]) -> tuple[Any, Any, Any]:
    from fleeting_openstack.provider.floatingip import FloatingIPs
    from fleeting_openstack.provider.limiter import Choices, CreateBreaker
    from fleeting_openstack.openstack.client import NotFound

    cfg, cloud = provider.cfg, provider.cloud
    flavors = [provider.resolved.flavor_ref if provider.resolved else ""]
    for i, ref in enumerate(cfg.flavor_fallbacks):
        try:
            flavors.append(cloud.flavor_id(ref=ref) if _looks_id(ref) else cloud.flavor_id(name=ref))
        except NotFound as exc:
            problems.append(f"flavor_fallbacks[{i}]: {exc}")
    zones = [cfg.server_spec.body.get("availability_zone")] + list(cfg.availability_zone_fallbacks)
    choices = Choices(flavors, zones, reset_after=cfg.resync_interval or 600.0)
    fips = None
    if cfg.floating_ip_pool:
        from fleeting_openstack.provider.group import group_tag

        fips = FloatingIPs(cloud, cfg.floating_ip_pool, group_tag(cfg.name))
        if not fips.resolve():
            problems.append(f"floating_ip_pool: network {cfg.floating_ip_pool!r} not found")
    return CreateBreaker(cfg.create_backoff), choices, fips


def _looks_id(ref: str) -> bool:
    return ref.isdigit() or len(ref) == 36 and ref.count("-") == 4


@contextlib.contextmanager
def locked(path: "Path") -> Iterator[None]:
    """An exclusive lock shared by every process using ``path`` (flock of ``path``.lock)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
