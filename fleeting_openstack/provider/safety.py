"""Restart and key safety, and the create helpers Init sets up (``group.py``).

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
* **Upgrade from the Go plugin**: its servers (metadata only) are tagged at Init.
* **Name index across processes**: read-increment-write under an exclusive
  ``flock`` of ``<state_dir>/index-<group>.lock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import META_CLUSTER, group_tag
from fleeting_openstack.provider.cloud import Tagger
from fleeting_openstack.provider.states import KeyCheck, key_mismatch

if TYPE_CHECKING:
    from pathlib import Path

    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.provider.cloud import ProviderCloud
    from fleeting_openstack.provider.createpause import CreateBreaker
    from fleeting_openstack.provider.fallbacks import Choices
    from fleeting_openstack.provider.resources.floatingips import FloatingIPs

log = logging.getLogger("fleeting_openstack.safety")
#: Adoption was logged by the provider before it moved here: its logger name is operator-visible.
provider_log = logging.getLogger("fleeting_openstack.provider")


_IMAGE_FLAVOR = ("server_spec.imageRef", "server_spec.image_name", "server_spec.flavorRef", "server_spec.flavor_name")


class KeyGuard:
    """Whether a server's key can work, with the error logged once per server.

    ``check``: what :func:`states.assess` checks keys with (None: nothing to check —
    static credentials, or no key store open, as for ``status``)."""

    def __init__(self, keys: KeyCheck | None, *, static_credentials: bool, state_dir: str) -> None:
        self.check = None if static_credentials else keys
        self.state_dir = state_dir
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def lost(self, server: Server) -> bool:
        """True (and logged at error once per server) when the server's key check proves a lost state dir."""
        if not key_mismatch(self.check, server.metadata):
            return False
        self.report(server)
        return True

    def report(self, server: Server) -> None:
        with self._lock:
            if server.id in self._logged:
                return
            self._logged.add(server.id)
        log.error(
            "server's SSH key cannot work: it was made from another master secret (the state dir "
            "was lost or replaced); the plugin deletes it and the runner replaces it. Restore the "
            "original credentials.state_dir (master.key) to keep such servers",
            extra={"server": server.id, "server_name": server.name, "state_dir": self.state_dir},
        )


def adopt_legacy_servers(cloud: Tagger, group: str) -> None:
    """Tag the servers the Go plugin created (metadata only) so the tag filter finds them (best effort)."""
    tag = group_tag(group)
    for server in cloud.list_servers({}):
        if server.metadata.get(META_CLUSTER) == group and tag not in server.tags:
            try:
                cloud.add_tag(server.id, tag)
                provider_log.info(
                    "adopted a server of the Go plugin", extra={"server": server.id, "server_name": server.name}
                )
            except Exception as exc:  # noqa: BLE001 - adoption is best effort
                provider_log.warning("could not tag server %s: %s", server.id, exc)


def retag(cloud: Tagger, tag: str, server: Server) -> None:
    """A member found by its metadata whose tag was removed: tag it again (best effort)."""
    try:
        cloud.add_tag(server.id, tag)
        log.info("re-tagged a group server whose tag was removed", extra={"server": server.id})
    except Exception as exc:  # noqa: BLE001 - it stays a member by metadata
        log.debug("could not re-tag %s: %s", server.id, exc)


def tolerate_missing_image(problems: list[str], members_of_group: Callable[[], Sequence[Server]]) -> str:
    """Drop image/flavor misses from ``problems`` when the group has servers; return the blocker text."""
    missing = [p for p in problems if p.startswith(_IMAGE_FLAVOR)]
    if not missing:
        return ""
    try:
        members = members_of_group()
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
    log.error(
        "configured image or flavor not found; the group stays manageable but creates fail until "
        "plugin_config is fixed: %s",
        text,
        extra={"servers": len(members)},
    )
    return f"creates are disabled: {text} (fix plugin_config and restart the runner)"


def create_helpers(
    cfg: PluginConfig, cloud: ProviderCloud, resolved: Resolved | None, problems: list[str]
) -> tuple[CreateBreaker, Choices, FloatingIPs | None]:
    """The create breaker, the flavor/AZ choices and the floating IPs (``floating_ip_pool``);
    misses are appended to ``problems``."""
    from fleeting_openstack.openstack.client import NotFound
    from fleeting_openstack.provider.createpause import CreateBreaker
    from fleeting_openstack.provider.fallbacks import Choices
    from fleeting_openstack.provider.resources.floatingips import FloatingIPs

    flavors = [resolved.flavor_ref if resolved else ""]
    for i, ref in enumerate(cfg.flavor_fallbacks):
        try:
            flavors.append(cloud.flavor_id(ref=ref) if _looks_id(ref) else cloud.flavor_id(name=ref))
        except NotFound as exc:
            problems.append(f"flavor_fallbacks[{i}]: {exc}")
    zones = [cfg.server_spec.body.get("availability_zone"), *cfg.availability_zone_fallbacks]
    choices = Choices(flavors, zones, reset_after=cfg.resync_interval or 600.0)
    fips = None
    if cfg.floating_ip_pool:
        fips = FloatingIPs(cloud, cfg.floating_ip_pool, group_tag(cfg.name))
        if not fips.resolve():
            problems.append(f"floating_ip_pool: network {cfg.floating_ip_pool!r} not found")
    return CreateBreaker(cfg.create_backoff), choices, fips


def _looks_id(ref: str) -> bool:
    return ref.isdigit() or (len(ref) == 36 and ref.count("-") == 4)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process using ``path`` (flock of ``path``.lock)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
