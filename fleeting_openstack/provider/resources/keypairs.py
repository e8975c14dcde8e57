"""Nova keypairs as a resource kind: the plugin creates none (its keys are per instance, in
user_data); a leak is a keypair named for the group, or like a group server that is gone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import keypair_name, name_pattern
from fleeting_openstack.provider.resources.kind import Leak, LeakScan

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.models import Keypair
    from fleeting_openstack.provider.cloud import LeakCloud


def keypair_leaks(keypairs: Iterable[Keypair], live_names: set[str], cfg: PluginConfig, tag: str) -> list[Leak]:
    """Keypairs named for the group, or like a group server that no longer exists;
    never ``server_spec.key_name``."""
    configured = cfg.server_spec.body.get("key_name")
    own = (keypair_name(cfg.name), tag)
    names = name_pattern(cfg.server_spec.name_template)
    leaks = []
    for kp in keypairs:
        if kp.name == configured:
            continue  # the operator's keypair, used by every server: never
        if kp.name in own or kp.name.startswith(own[0] + "-"):
            leaks.append(Leak("keypair", kp.name, kp.name, "named for the group"))
        elif names.fullmatch(kp.name) and kp.name not in live_names:
            leaks.append(Leak("keypair", kp.name, kp.name, "named like a group server that no longer exists"))
    return leaks


class Keypairs:
    kind = "keypair"

    def leaks(self, scan: LeakScan) -> list[Leak]:
        live = {s.name for s in scan.live()}
        scan.say("listing keypairs")
        return keypair_leaks(scan.cloud.keypairs(), live, scan.cfg, scan.tag)

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        cloud.delete_keypair(resource_id)
