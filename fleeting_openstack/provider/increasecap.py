"""How many servers an Increase may create: the quota pre-check and Increase's cap.

* :func:`quota_headroom`: how many more servers of a flavor fit in the
  project's Nova limits (instances, cores, RAM) and, when used, Neutron's
  ports and floating IPs. Increase creates what fits and reports the rest.
* :func:`cap_increase`: Increase's bounds: creates disabled or paused
  (:mod:`.createpause`), ``max_size``, and the quota pre-check.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from fleeting_openstack.provider.createpause import CreatesPaused

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.jsontypes import JSONObject
    from fleeting_openstack.provider.cloud import QuotaCloud
    from fleeting_openstack.provider.createpause import CreateBreaker
    from fleeting_openstack.provider.fallbacks import Choices

#: The logger these lines were written to before the module was split: its name is operator-visible.
log = logging.getLogger("fleeting_openstack.limiter")

#: Errors that mean the code (or a fake cloud) is wrong, not that the cloud could not answer:
#: the advisory pre-check lets them through instead of skipping itself.
_BUGS = (AttributeError, TypeError, NameError)


def _number(item: JSONObject, key: str, default: int) -> int:
    """An integer field of a Neutron quota detail (``limit``/``used``/``reserved``); None/absent: ``default``."""
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def quota_headroom(cloud: QuotaCloud, flavor_ref: str, *, ports_per_server: int, floating_ips: bool) -> tuple[int, str]:
    """(servers that still fit, what limits them); (large, "") when nothing could be read."""
    fits, why = 1 << 30, ""
    try:
        absolute = cloud.compute_limits()
        flavor = cloud.flavor_size(flavor_ref)
    except _BUGS:
        raise  # a call the cloud object lacks is a bug, never a skipped pre-check
    except Exception as exc:  # noqa: BLE001 - the pre-check is advisory
        log.debug("quota pre-check skipped: %s", exc)
        return fits, why

    def room(limit_key: str, used_key: str, per: int, what: str) -> None:
        nonlocal fits, why
        limit, used = absolute.get(limit_key, -1), absolute.get(used_key, 0)
        if limit is None or limit < 0 or per <= 0:
            return
        n = max(0, (limit - used) // per)
        if n < fits:
            fits, why = n, f"Nova quota {what}: {used} of {limit} used, {per} per server"

    room("maxTotalInstances", "totalInstancesUsed", 1, "instances")
    room("maxTotalCores", "totalCoresUsed", flavor.get("vcpus", 0), "cores")
    room("maxTotalRAMSize", "totalRAMUsed", flavor.get("ram", 0), "RAM (MiB)")
    if ports_per_server or floating_ips:
        try:
            net = cloud.network_quota()
        except _BUGS:
            raise
        except Exception as exc:  # noqa: BLE001 - the pre-check is advisory: Nova's answer decides
            log.debug("Neutron quota pre-check skipped: %s", exc)
            net = {}
        for key, per, what in (
            ("port", ports_per_server, "ports"),
            ("floatingip", 1 if floating_ips else 0, "floating IPs"),
        ):
            item = net.get(key)
            if not isinstance(item, dict):
                item = {}
            limit, used = _number(item, "limit", -1), _number(item, "used", 0) + _number(item, "reserved", 0)
            if per and limit >= 0:
                n = max(0, (limit - used) // per)
                if n < fits:
                    fits, why = n, f"Neutron quota {what}: {used} of {limit} used, {per} per server"
    return fits, why


def cap_increase(
    delta: int,
    *,
    cfg: PluginConfig,
    cloud: QuotaCloud,
    blocker: str,
    breaker: CreateBreaker,
    choices: Choices,
    members: Collection[str],
    deleting: Collection[str],
    floating_ips: bool,
) -> tuple[int, str]:
    """Increase's bounds: creates disabled (``blocker``) or paused, ``max_size``, and what the quotas
    still allow (the most any flavor choice allows: a fallback may fit where the first does not). (n, why).

    ``members``: the group's server ids; ``deleting``: those the plugin is deleting (not counted).
    ``cloud``: the adapter's ``compute_limits``/``flavor_size``/``network_quota`` (advisory: any
    failure skips the pre-check)."""
    if blocker:
        return 0, blocker
    try:
        breaker.check()
    except CreatesPaused as exc:
        return 0, str(exc)
    live = len([i for i in members if i not in deleting])
    room = max(0, cfg.max_size - live)
    why = ""
    if room < delta:
        why, delta = f"max_size {cfg.max_size} reached ({live} servers in the group)", room
    if delta:
        ports = sum(1 for n in (cfg.server_spec.body.get("networks") or []) if isinstance(n, dict) and "port" not in n)
        fits, quota_why = max(
            (
                quota_headroom(cloud, flavor, ports_per_server=ports, floating_ips=floating_ips)
                for flavor in dict.fromkeys(choices.flavors)
            ),
            key=lambda t: t[0],
        )
        if fits < delta:
            why, delta = f"quota exceeded (checked before creating): {quota_why}", fits
    if why:
        log.warning("Increase capped: %s", why, extra={"creating": delta})
    return delta, why
