"""``reap``: what a group leaked, listed, and deleted only with ``--yes``.

Servers the plugin would delete, Neutron ports and floating IPs, Nova keypairs
and Cinder volumes; the rules are in :mod:`fleeting_openstack.provider.leaks`
(:func:`~fleeting_openstack.provider.leaks.find_leaks`), found and deleted through the
read-only observer (:meth:`fleeting_openstack.provider.observer.GroupObserver.leaks`), the
cloud calls in the adapter. The input, the spinner and the table are those of :mod:`.common`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from fleeting_openstack.cli.common import EXIT_FAILED, EXIT_OK, Progress, Target, load_target, observe, table

if TYPE_CHECKING:
    from fleeting_openstack.provider.observer import Leak


def format_reap(target: Target, leaks: Sequence[Leak], notes: Sequence[str], deleting: bool) -> str:
    cfg = target.config
    if not leaks:
        lines = [f"group {cfg.name}: nothing leaked"]
    else:
        rows = [
            [leak.kind, leak.id, leak.name or "-", leak.action + (f": {leak.error}" if leak.error else ""), leak.reason]
            for leak in leaks
        ]
        lines = [
            f"group {cfg.name}: {len(leaks)} leaked resource{'s' if len(leaks) != 1 else ''}",
            table(["KIND", "ID", "NAME", "ACTION", "WHY"], rows),
        ]
        if not deleting:
            lines.append(f"nothing was deleted; run again with --yes to delete {'it' if len(leaks) == 1 else 'them'}")
        else:
            failed = sum(1 for leak in leaks if leak.action == "failed")
            lines.append(
                f"{len(leaks) - failed} deleted, {failed} failed"
                if failed
                else f"{len(leaks)} deleted (servers finish deleting in the background)"
            )
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def cmd_reap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = load_target(args.path, args.runner)
    with Progress(err, "connecting to the cloud") as progress:
        observer = observe(target)
        try:
            progress.say(f"evaluating the servers of group {target.config.name}")
            leaks, notes = observer.leaks(progress.say)
            if args.yes:
                for leak in leaks:
                    progress.say(f"deleting {leak.kind} {leak.name or leak.id}")
                    try:
                        observer.delete(leak)
                        leak.action = "deleted"
                    except Exception as exc:  # noqa: BLE001 - report it, go on with the rest
                        leak.action, leak.error = "failed", str(exc) or type(exc).__name__
        finally:
            observer.close()
    for w in target.warnings:
        err.write(f"warning: {w}\n")
    failed = [leak for leak in leaks if leak.action == "failed"]
    if args.json:
        doc = dict(
            target.describe(),
            deleted=bool(args.yes),
            ok=not failed,
            resources=[leak.to_dict() for leak in leaks],
            notes=notes,
        )
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_reap(target, leaks, notes, bool(args.yes)) + "\n")
    for leak in failed:
        err.write(f"error: deleting {leak.kind} {leak.id} failed: {leak.error}\n")
    return EXIT_FAILED if failed else EXIT_OK
