"""``plugins [PATH]``: the installed boot strategies and site plugins, with their hooks."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Protocol, TextIO, TypedDict

from fleeting_openstack.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, load_target, table

HOOK_PREFIX = "fleeting_"


class InstalledPlugin(Protocol):
    """What the command reads of one installed plugin (the manager's ``PluginInfo``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def hooks(self) -> Sequence[str]: ...
    @property
    def strategies(self) -> Sequence[str]: ...


class PluginSource(Protocol):
    """Where the installed plugins come from (the strategy manager)."""

    def installed(self) -> Sequence[InstalledPlugin]: ...


class PluginRow(TypedDict):
    """One line of ``plugins`` (one object of its ``--json``)."""

    name: str
    version: str | None
    kind: str
    strategies: list[str]
    hooks: list[str]


def plugin_rows(manager: PluginSource) -> list[PluginRow]:
    rows: list[PluginRow] = []
    for info in manager.installed():
        rows.append(
            {
                "name": info.name,
                "version": info.version,
                "kind": "strategy" if info.strategies else "site",
                "strategies": list(info.strategies),
                "hooks": list(info.hooks),
            }
        )
    return rows


def cmd_plugins(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.host import BLOCK_ENV, ENTRY_POINT_GROUP, StrategyError, default_manager

    selected = None
    if args.runner and not args.path:
        raise CommandError("--runner needs PATH (a runner config.toml)", EXIT_USAGE)
    if args.path:
        target = load_target(args.path, args.runner)
        selected = target.config.strategy
    try:
        manager = default_manager()
    except StrategyError as exc:
        raise CommandError(f"loading plugins failed: {exc}", EXIT_FAILED) from None
    rows = plugin_rows(manager)
    if args.json:
        doc = {
            "entry_point_group": ENTRY_POINT_GROUP,
            "blocked": sorted(manager.blocked),
            "strategies": manager.strategy_names(),
            "selected_strategy": selected,
            "plugins": rows,
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    body = []
    for r in rows:
        strategies = ", ".join(("*" if s == selected else "") + s for s in r["strategies"]) or "-"
        hooks = ", ".join(h[len(HOOK_PREFIX) :] if h.startswith(HOOK_PREFIX) else h for h in r["hooks"]) or "-"
        body.append([r["name"], r["version"] or "-", r["kind"], strategies, hooks])
    lines = [table(["PLUGIN", "VERSION", "KIND", "STRATEGIES", "HOOKS (fleeting_*)"], body)]
    if selected:
        lines.append(
            f"* selected by {args.path}"
            + ("" if selected in manager.strategy_names() else f" -- {selected!r} is NOT installed")
        )
    if manager.blocked:
        lines.append(f"blocked by {BLOCK_ENV}: {', '.join(sorted(manager.blocked))}")
    lines.append(f"plugins come from the entry-point group {ENTRY_POINT_GROUP!r}; see docs/strategies.md")
    out.write("\n".join(lines) + "\n")
    return EXIT_OK
