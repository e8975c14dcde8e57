"""``reap``: what a group leaked, listed, and deleted only with ``--yes``.

Servers the plugin would delete, Neutron ports and floating IPs, Nova keypairs
and Cinder volumes; the exact rules are in :func:`find_leaks`. The input, the
spinner and the table are those of :mod:`.commands`.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, TextIO

from fleeting_openstack.cli.common import (
    EXIT_FAILED, EXIT_OK, KINDS, Progress, Target, load_target, observe, table, _utc)

@dataclass
class Leak:
    kind: str  # one of KINDS
    id: str
    name: str
    reason: str
    action: str = "would delete"  # "would delete" | "deleted" | "failed"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "reason": self.reason,
                "action": self.action, "error": self.error}


def name_pattern(template: str) -> re.Pattern[str]:
    """The names the plugin gives this group's servers (see provider._server_name)."""
    if "%d" in template:
        before, _, after = template.partition("%d")
        return re.compile(re.escape(before) + r"[0-9]+" + re.escape(after))
    return re.compile(re.escape(template) + r"-[0-9]+")


class _Finder:
    """Looks for what one group leaked; every rule is in :func:`find_leaks`."""

    def __init__(self, provider: Any, target: Target, progress: Progress | None) -> None:
        from fleeting_openstack.provider.group import group_tag

        self.provider = provider
        self.cloud = provider.cloud
        self.conn = provider.cloud.conn
        self.cfg = target.config
        self.tag = group_tag(self.cfg.name)
        self.names = name_pattern(self.cfg.server_spec.name_template)
        self.progress = progress
        self.notes: list[str] = []
        self._deleted: dict[str, Any] | None = None
        self.project_id = self.conn.current_project_id

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.say(text)

    def marked(self, resource: Any) -> str:
        """How ``resource`` is marked with the group ("" if not): by a tag, or by its description."""
        if self.tag in (getattr(resource, "tags", None) or []):
            return f"carries the group tag {self.tag}"
        if self.tag in (getattr(resource, "description", None) or ""):
            return f"its description contains {self.tag}"
        return ""

    def deleted_servers(self) -> dict[str, Any]:
        """Deleted servers of the group (Nova keeps them, without metadata or tags, until
        its database is archived): found by the group's name pattern."""
        if self._deleted is None:
            self.say("listing deleted servers of the group")
            template = self.cfg.server_spec.name_template
            prefix = template.partition("%d")[0] if "%d" in template else template
            found = self.cloud.list_servers({"changes-since": "1970-01-01T00:00:00Z",
                                             "name": "^" + re.escape(prefix)})
            self._deleted = {s.id: s for s in found
                             if s.status.upper() == "DELETED" and self.names.fullmatch(s.name)}
        return self._deleted

    # -- the rules ------------------------------------------------------------
    def servers(self, evaluated: Sequence[tuple[Any, Any]]) -> list[Leak]:
        return [Leak("server", s.id, s.name, self.provider.would_reap[s.id])
                for s, _ in evaluated if s.id in self.provider.would_reap]

    def ports(self, ports: Sequence[Any], live_ids: set[str]) -> list[Leak]:
        networks = self.cfg.server_spec.networks
        keep = {n.get("port") for n in networks if isinstance(n, Mapping)} if isinstance(networks, list) else set()
        leaks = []
        for port in ports:
            if port.id in keep:
                continue
            device = port.device_id or ""
            owner = port.device_owner or ""
            if device and (device in live_ids or not owner.startswith("compute:")):
                continue  # in use by a server that exists, or by a router, DHCP...
            if self.marked(port):
                how = f"device {device} is gone" if device else "attached to nothing"
                leaks.append(Leak("port", port.id, port.name or "", f"{self.marked(port)}; {how}"))
            elif owner.startswith("compute:") and device and device in self.deleted_servers():
                name = self.deleted_servers()[device].name
                leaks.append(Leak("port", port.id, port.name or "",
                                  f"still bound to deleted group server {name} ({device})"))
        return leaks

    def floating_ips(self, leaked_ports: set[str]) -> list[Leak]:
        self.say("listing floating IPs")
        leaks = []
        for fip in self.conn.network.ips(project_id=self.project_id):
            port = fip.port_id or ""
            if port in leaked_ports:
                leaks.append(Leak("floating_ip", fip.id, fip.floating_ip_address or "",
                                  f"associated with leaked port {port}"))
            elif self.marked(fip) and not port:
                leaks.append(Leak("floating_ip", fip.id, fip.floating_ip_address or "",
                                  f"{self.marked(fip)}; not associated"))
        return leaks

    def keypairs(self, live_names: set[str]) -> list[Leak]:
        self.say("listing keypairs")
        configured = self.cfg.server_spec.body.get("key_name")
        own = (f"fleeting-{self.cfg.name}", self.tag)
        leaks = []
        for kp in self.conn.compute.keypairs():
            if kp.name == configured:
                continue  # the operator's keypair, used by every server: never
            if kp.name in own or kp.name.startswith(own[0] + "-"):
                leaks.append(Leak("keypair", kp.name, kp.name, "named for the group"))
            elif self.names.fullmatch(kp.name) and kp.name not in live_names:
                leaks.append(Leak("keypair", kp.name, kp.name,
                                  "named like a group server that no longer exists"))
        return leaks

    def volumes(self) -> list[Leak]:
        catalog = {entry.get("type") for entry in (self.conn.service_catalog or [])}
        if not catalog & {"block-storage", "volumev3", "volumev2", "volume"}:
            self.notes.append("no block-storage (Cinder) service in the catalog: volumes not checked")
            return []
        self.say("listing volumes")
        bdm = [b for b in self.cfg.server_spec.block_device_mapping_v2
               if b.get("destination_type") == "volume" and b.get("source_type") in ("image", "blank", "snapshot")
               and not b.get("delete_on_termination")]
        leaks = []
        for vol in self.conn.block_storage.volumes(details=True):
            if vol.status != "available" or vol.attachments:
                continue
            meta = vol.metadata or {}
            name = vol.name or ""
            if meta.get("fleeting-cluster") == self.cfg.name or self.marked(vol):
                leaks.append(Leak("volume", vol.id, name, "marked with the group (metadata/description)"))
                continue
            if name.endswith("-blank-vol") and name[:-len("-blank-vol")] in self.deleted_servers():
                sid = name[:-len("-blank-vol")]
                leaks.append(Leak("volume", vol.id, name, f"blank volume Nova made for deleted group server "
                                                          f"{self.deleted_servers()[sid].name}"))
                continue
            if bdm and not name:
                created = _utc(getattr(vol, "created_at", None))
                owner = self._building_at(created) if created is not None else None
                if owner is not None and any(not b.get("volume_size") or b.get("volume_size") == vol.size
                                             for b in bdm):
                    leaks.append(Leak("volume", vol.id, name,
                                      f"unnamed volume created while deleted group server {owner.name} was "
                                      "building (block_device_mapping_v2 without delete_on_termination)"))
        return leaks

    def _building_at(self, when: float) -> Any:
        for server in self.deleted_servers().values():
            if server.created - 5 <= when <= server.created + self.cfg.build_timeout:
                return server
        return None


def find_leaks(provider: Any, target: Target, evaluated: Sequence[tuple[Any, Any]],
               progress: Progress | None = None) -> tuple[list[Leak], list[str]]:
    """What the group leaked, and notes about what could not be checked.

    Rules (the plugin itself creates only servers; ports, floating IPs,
    keypairs and volumes are found so that leftovers of Nova, of earlier
    versions, of the Go plugin and of site scripts that follow the convention
    are cleaned up too):

    * **servers**: those the plugin would delete at its next Update (ERROR,
      SHUTOFF and the other unusable statuses, stuck in BUILD longer than
      ``build_timeout``, failed boots, ``on_boot_timeout = "delete"``);
    * **ports**: tagged ``fleeting:<group>`` (or with that in their
      description) and not used by an existing server; or still bound
      (``device_owner compute:*``) to a *deleted* server of the group (found in
      Nova's deleted servers by the group's name pattern). Ports named in
      ``server_spec.networks[].port`` are never touched;
    * **floating IPs**: associated with such a port, or tagged/described like
      above and not associated with an existing port;
    * **keypairs**: named ``fleeting-<group>``, ``fleeting-<group>-*`` or
      ``fleeting:<group>``, or named like a group server that no longer
      exists; never ``server_spec.key_name``;
    * **volumes** (``available`` and unattached only): metadata
      ``fleeting-cluster=<group>`` or tagged/described like above;
      ``<server-id>-blank-vol`` of a deleted group server; or, when
      ``block_device_mapping_v2`` creates volumes without
      ``delete_on_termination``, an unnamed volume (Nova names them "")
      created while a deleted group server was building.
    """
    finder = _Finder(provider, target, progress)
    leaks = finder.servers(evaluated)
    finder.say("listing the project's servers")
    live = list(provider.cloud.list_servers({}))
    live_ids = {s.id for s in live}
    finder.say("listing Neutron ports")
    ports = finder.ports(list(finder.conn.network.ports(project_id=finder.project_id)), live_ids)
    leaks += finder.floating_ips({p.id for p in ports})
    leaks += ports
    leaks += finder.keypairs({s.name for s in live})
    leaks += finder.volumes()
    leaks.sort(key=lambda leak: KINDS.index(leak.kind))
    return leaks, finder.notes


def delete_leak(provider: Any, leak: Leak) -> None:
    """Delete one leaked resource; gone already counts as deleted."""
    from fleeting_openstack.openstack.client import NotFound

    conn = provider.cloud.conn
    if leak.kind == "server":
        try:
            provider.cloud.delete_server(leak.id)
        except NotFound:
            pass
    elif leak.kind == "floating_ip":
        conn.network.delete_ip(leak.id, ignore_missing=True)
    elif leak.kind == "port":
        conn.network.delete_port(leak.id, ignore_missing=True)
    elif leak.kind == "keypair":
        conn.compute.delete_keypair(leak.id, ignore_missing=True)
    elif leak.kind == "volume":
        conn.block_storage.delete_volume(leak.id, ignore_missing=True)
    else:  # pragma: no cover
        raise ValueError(f"unknown kind {leak.kind}")


def format_reap(target: Target, leaks: Sequence[Leak], notes: Sequence[str], deleting: bool) -> str:
    cfg = target.config
    if not leaks:
        lines = [f"group {cfg.name}: nothing leaked"]
    else:
        rows = [[leak.kind, leak.id, leak.name or "-",
                 leak.action + (f": {leak.error}" if leak.error else ""), leak.reason] for leak in leaks]
        lines = [f"group {cfg.name}: {len(leaks)} leaked resource{'s' if len(leaks) != 1 else ''}",
                 table(["KIND", "ID", "NAME", "ACTION", "WHY"], rows)]
        if not deleting:
            lines.append(f"nothing was deleted; run again with --yes to delete "
                         f"{'it' if len(leaks) == 1 else 'them'}")
        else:
            failed = sum(1 for leak in leaks if leak.action == "failed")
            lines.append(f"{len(leaks) - failed} deleted, {failed} failed" if failed
                         else f"{len(leaks)} deleted (servers finish deleting in the background)")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def cmd_reap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = load_target(args.path, args.runner)
    with Progress(err, "connecting to the cloud") as progress:
        provider = observe(target)
        try:
            progress.say(f"evaluating the servers of group {target.config.name}")
            evaluated = provider.evaluate()
            leaks, notes = find_leaks(provider, target, evaluated, progress)
            if args.yes:
                for leak in leaks:
                    progress.say(f"deleting {leak.kind} {leak.name or leak.id}")
                    try:
                        delete_leak(provider, leak)
                        leak.action = "deleted"
                    except Exception as exc:  # noqa: BLE001 - report it, go on with the rest
                        leak.action, leak.error = "failed", str(exc) or type(exc).__name__
        finally:
            provider.close()
    for w in target.warnings:
        err.write(f"warning: {w}\n")
    failed = [leak for leak in leaks if leak.action == "failed"]
    if args.json:
        doc = dict(target.describe(), deleted=bool(args.yes), ok=not failed,
                   resources=[leak.to_dict() for leak in leaks], notes=notes)
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_reap(target, leaks, notes, bool(args.yes)) + "\n")
    for leak in failed:
        err.write(f"error: deleting {leak.kind} {leak.id} failed: {leak.error}\n")
    return EXIT_FAILED if failed else EXIT_OK
