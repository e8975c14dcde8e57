"""What every resource kind shares: the handler Protocol, a found leak, and one leak scan's context."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.config.identity import group_tag, name_pattern, name_prefix

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.openstack.models import FloatingIP, Port, Server, Volume
    from fleeting_openstack.provider.cloud import LeakCloud

#: The kinds, in the order ``reap --yes`` deletes them.
KINDS = ("server", "floating_ip", "port", "keypair", "volume")


@dataclass
class Leak:
    kind: str  # one of KINDS
    id: str
    name: str
    reason: str
    action: str = "would delete"  # "would delete" | "deleted" | "failed"
    error: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "reason": self.reason,
            "action": self.action,
            "error": self.error,
        }


class ResourceKind(Protocol):
    """One kind's handler: the leaks of a group (by its rule) and the delete of one."""

    @property
    def kind(self) -> str: ...

    def leaks(self, scan: LeakScan) -> list[Leak]:
        """This kind's leaks (listed through ``scan.cloud``; ``scan.found``: earlier kinds' leaks)."""
        ...

    def delete(self, cloud: LeakCloud, resource_id: str) -> None:
        """Delete one leaked resource; gone already counts as deleted."""
        ...


def marked(resource: Port | FloatingIP | Volume, tag: str) -> str:
    """How ``resource`` is marked with the group tag ``tag`` ("" if not): by a tag, or by its description."""
    if tag in resource.tags:
        return f"carries the group tag {tag}"
    if tag in resource.description:
        return f"its description contains {tag}"
    return ""


class DeletedServers:
    """Deleted servers of the group (Nova keeps them, without metadata or tags, until
    its database is archived), found by the group's name pattern; listed once, when first needed."""

    def __init__(self, cloud: LeakCloud, template: str, say: Callable[[str], None] = lambda text: None) -> None:
        self.cloud = cloud
        self.template = template
        self.say = say
        self._found: dict[str, Server] | None = None

    def __call__(self) -> dict[str, Server]:
        if self._found is None:
            self.say("listing deleted servers of the group")
            names = name_pattern(self.template)
            found = self.cloud.list_servers(
                {"changes-since": "1970-01-01T00:00:00Z", "name": "^" + re.escape(name_prefix(self.template))}
            )
            self._found = {s.id: s for s in found if s.status.upper() == "DELETED" and names.fullmatch(s.name)}
        return self._found


@dataclass
class LeakScan:
    """One leak scan: the cloud, the group, what the provider evaluated, and what is listed once
    and shared by the kinds (the project's servers, the group's deleted servers).

    ``group_servers``: the group's servers as the provider evaluated them; ``would_reap``:
    those of them it would delete, with why; ``found``: the leaks the kinds before found;
    ``notes``: what could not be checked."""

    cloud: LeakCloud
    cfg: PluginConfig
    group_servers: Sequence[Server]
    would_reap: Mapping[str, str]
    say: Callable[[str], None] = lambda text: None
    found: list[Leak] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _live: list[Server] | None = None
    _deleted: DeletedServers | None = None

    @property
    def tag(self) -> str:
        return group_tag(self.cfg.name)

    def live(self) -> list[Server]:
        """The project's servers (listed once)."""
        if self._live is None:
            self.say("listing the project's servers")
            self._live = list(self.cloud.list_servers({}))
        return self._live

    def deleted(self) -> Mapping[str, Server]:
        """The group's deleted servers (listed once, when first needed)."""
        if self._deleted is None:
            self._deleted = DeletedServers(self.cloud, self.cfg.server_spec.name_template, self.say)
        return self._deleted()
