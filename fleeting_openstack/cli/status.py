"""``status``: every server of the group and the state the plugin reports, read-only.

The state comes from the provider's own Update decision (``states.assess``),
gathered without acting by the read-only observer
(:class:`fleeting_openstack.provider.observer.GroupObserver`, opened by
``cli.common.observe``): nothing is deleted, tagged or written. The addresses are
the ones ConnectInfo would report (``GroupObserver.addresses``).
Exit status 1 when Init would fail (the problems are listed), as for every command.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO, TypedDict

from fleeting_openstack.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    Progress,
    Target,
    human_age,
    iso_time,
    load_target,
    observe,
    table,
)

if TYPE_CHECKING:
    from fleeting_openstack.openstack.models import Image, Server
    from fleeting_openstack.provider.observer import GroupObserver


class AddressRow(TypedDict):
    network: str
    ip: str
    version: int
    type: str


class ImageRow(TypedDict):
    id: str | None
    name: str | None


class ServerRow(TypedDict):
    """One server of ``status --json``."""

    id: str
    name: str
    nova_status: str
    task_state: str | None
    state: str
    reason: str
    plugin_deletes: bool
    created: str
    age_seconds: float
    internal_addr: str
    external_addr: str
    connect_addr: str
    addresses: list[AddressRow]
    image: ImageRow
    flavor: str | None
    fault: str | None


def image_row(server: Server, image: Image | None) -> ImageRow:
    """The image ``server`` runs: its own image id (named when Glance still has it); the configured
    image only for a server without one (booted from a volume). A deleted image is shown by its id,
    never as the configured one (which, with ``image_refresh``, may be a newer image)."""
    if server.image_id and (image is None or image.id != server.image_id):
        return {"id": server.image_id, "name": None}
    return {"id": image.id if image else None, "name": image.name if image else None}


def server_rows(observer: GroupObserver, target: Target, progress: Progress | None = None) -> list[ServerRow]:
    """Every group server as a dict (the ``--json`` shape of ``status``)."""
    now = time.time()
    rows = []
    for server, verdict in observer.verdicts():
        if server.status == "ERROR" and not server.fault:
            server = observer.record(server)  # list answers may omit the fault
        if progress is not None:
            progress.say(f"looking at {server.name}")
        try:
            internal, external = observer.addresses(server)
        except Exception:  # noqa: BLE001 - an address problem must not hide the server
            internal, external = "", ""
        image = observer.image(server)
        row: ServerRow = {
            "id": server.id,
            "name": server.name,
            "nova_status": server.status,
            "task_state": server.task_state,
            "state": verdict.state.value,
            "reason": verdict.reason,
            "plugin_deletes": verdict.reap,
            "created": iso_time(server.created),
            "age_seconds": round(server.age(now), 1),
            "internal_addr": internal,
            "external_addr": external,
            "connect_addr": (external or internal) if target.use_external_addr else internal,
            "addresses": [
                {"network": a.network, "ip": a.ip, "version": a.version, "type": a.kind} for a in server.addresses
            ],
            "image": image_row(server, image),
            "flavor": server.flavor,
            "fault": server.fault or None,
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["created"], r["name"]))
    return rows


def new_image_row(observer: GroupObserver) -> ImageRow | None:
    """The image new servers get (``status --json``'s ``new_servers_image``); None: none found."""
    image = observer.new_image()
    return {"id": image.id, "name": image.name} if image is not None else None


def format_status(
    target: Target, problems: Sequence[str], rows: Sequence[ServerRow], new_image: ImageRow | None = None
) -> str:
    cfg = target.config
    where = f"runner {target.runner!r}, " if target.runner else ""
    lines = [
        f"group {cfg.name} ({where}cloud {cfg.cloud or '(OS_* environment)'}, strategy {cfg.strategy}): "
        f"{len(rows)} server{'s' if len(rows) != 1 else ''}"
    ]
    for p in problems:
        lines.append(f"Init would fail: {p}")
    if new_image is not None:
        refresh = cfg.image_refresh if cfg.server_spec.image_name else 0
        when = f" (image_name looked up every {refresh:g}s)" if refresh else ""
        lines.append(f"new servers get image {new_image['name'] or '-'} ({new_image['id']}){when}")
    if rows:
        body = []
        for r in rows:
            reason = r["reason"] + (" -> the plugin deletes it" if r["plugin_deletes"] else "")
            body.append(
                [
                    r["name"],
                    r["id"][:8],
                    r["nova_status"],
                    r["state"],
                    human_age(r["age_seconds"]),
                    r["internal_addr"] or "-",
                    r["external_addr"] or "-",
                    r["image"]["name"] or (r["image"]["id"] or "-"),
                    r["flavor"] or "-",
                    reason,
                ]
            )
        rendered = table(
            ["NAME", "ID", "NOVA", "STATE", "AGE", "INTERNAL", "EXTERNAL", "IMAGE", "FLAVOR", "READINESS"], body
        ).split("\n")
        lines.append(rendered[0])
        for r, text in zip(rows, rendered[1:], strict=False):
            lines.append(text)
            if r["fault"]:
                lines.append(f"    fault: {r['fault']}")
        doomed = sum(1 for r in rows if r["plugin_deletes"])
        if doomed:
            lines.append(
                f"{doomed} server{'s' if doomed != 1 else ''} the plugin deletes at its next Update; "
                f"`{PROG} reap` shows everything the group leaked"
            )
        lines.append(
            "runner connects to: "
            + ("external" if target.use_external_addr else "internal")
            + " addresses (connector_config.use_external_addr)"
        )
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = load_target(args.path, args.runner)
    with Progress(err, "connecting to the cloud") as progress:
        observer = observe(target)
        try:
            progress.say(f"listing the servers of group {target.config.name}")
            rows = server_rows(observer, target, progress)
            problems = observer.problems
            new_image = new_image_row(observer)
        finally:
            observer.close()
    for w in target.warnings:
        err.write(f"warning: {w}\n")
    if args.json:
        doc = dict(
            target.describe(),
            use_external_addr=target.use_external_addr,
            problems=problems,
            warnings=target.warnings,
            new_servers_image=new_image,
            servers=rows,
        )
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_status(target, problems, rows, new_image) + "\n")
    return EXIT_FAILED if problems else EXIT_OK
