"""What the commands for people share: the target config, a spinner, tables, the exit codes.

A shared piece of the CLI: it imports no command (the contract "cli: main > parser > the
commands > their shared pieces" in pyproject.toml), so every command can import it.

Every command that reads a PATH reads what ``validate`` reads — a plugin_config JSON file or the
runner's ``config.toml`` (its ``[runners.autoscaler.plugin_config]`` and
``[runners.autoscaler.connector_config]``; ``--runner NAME`` picks one runner when several use this
plugin) — through :mod:`fleeting_openstack.config.sources` (read and loaded once) and
:mod:`.report` (``validate``'s report), so a config these commands accept is one the runner's plugin
accepts (:func:`load_target`).

Output: a table for people, ``--json`` for scripts (stdout). Anything that waits on the cloud shows
a one-line spinner on stderr (:class:`Progress`), only when stderr is a terminal (never in pipes,
logs or CI), erased before the result is printed.

Exit status (the scheme of every command, :mod:`.usage`): 0 done; 1 problems found (an invalid
configuration, Init fails, the cloud refused, a delete failed); 2 bad usage or cannot run (an
unreadable file, no such runner).

Like the plugin, the commands talk to OpenStack only through the adapter
(:class:`fleeting_openstack.openstack.client.Cloud`), never an SDK connection.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from fleeting_openstack.cli.usage import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, PROG
from fleeting_openstack.config import LoadedConfig, PluginConfig
from fleeting_openstack.contract.instancegroup import ConnectorConfig
from fleeting_openstack.jsontypes import JSONObject, JSONValue

if TYPE_CHECKING:
    from fleeting_openstack.provider.group import OpenStackProvider

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "CommandError",
    "Progress",
    "Target",
    "human_age",
    "iso_time",
    "load_target",
    "observe",
    "table",
]

#: Problems found (exit status 1): the name the commands for people use.
EXIT_FAILED = EXIT_PROBLEMS


class CommandError(Exception):
    """Stops a command: ``message`` for stderr, ``code`` for the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------
# Progress on stderr
# --------------------------------------------------------------------------


class Progress:
    """A one-line spinner on ``stream`` while the cloud is asked something.

    Enabled only when ``stream`` is a terminal (or ``enabled=True``); the line
    is erased on exit, so the command's own output starts on a clean line.
    """

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, text: str = "", *, enabled: bool | None = None, interval: float = 0.1) -> None:
        self.stream = stream
        if enabled is None:
            isatty = getattr(stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.text = text
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        self.text = text
        self._draw()

    def _draw(self, frame: str = "") -> None:
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 3)
        with self._lock:
            self.stream.write(f"\r{frame or self.FRAMES[0]} {self.text[:width]}\x1b[K")
            self.stream.flush()

    def _spin(self) -> None:
        i = 0
        while not self._stop.wait(self.interval):
            i += 1
            self._draw(self.FRAMES[i % len(self.FRAMES)])

    def __enter__(self) -> Progress:
        if self.enabled:
            self._draw()
            self._thread = threading.Thread(target=self._spin, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()


# --------------------------------------------------------------------------
# Input: the same files as validate
# --------------------------------------------------------------------------


@dataclass
class Target:
    """The plugin_config (and connector_config) a command works on."""

    source: str
    path: str  # "" for a plugin_config file, else runners[i].autoscaler.plugin_config
    runner: str | None
    config: PluginConfig
    raw: Mapping[str, JSONValue]  # plugin_config as written (what the runner sends)
    connector: ConnectorConfig
    use_external_addr: bool = False
    warnings: list[str] = field(default_factory=list)
    #: ``config`` as loaded (with its warnings), so Init does not load and validate it again.
    loaded: LoadedConfig | None = None

    def describe(self) -> JSONObject:
        return {
            "source": self.source,
            "runner": self.runner,
            "path": self.path,
            "group": self.config.name,
            "provider_id": self.config.provider_id,
            "cloud": self.config.cloud,
            "strategy": self.config.strategy,
        }


_PLUGIN_PATH = re.compile(r"runners\[(\d+)\]\.autoscaler\.plugin")


def load_target(path: str, runner: str | None = None, *, clouds_file: bool = True) -> Target:
    """Validate ``path`` like ``validate`` does and return the one plugin_config to use.

    The file is read and each plugin_config loaded once (:func:`fleeting_openstack.config.sources.read_source`).
    Without ``clouds_file`` the clouds.yaml is not checked (for a command that works offline).

    :raises CommandError: unreadable file (2), invalid config (2), no or several
        matching runners (2).
    """
    from fleeting_openstack.cli.report import report_for, runner_connector
    from fleeting_openstack.config.sources import UnreadableFileError, read_source

    try:
        source = read_source(path)
    except UnreadableFileError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    report = report_for(source, clouds_file=clouds_file)
    warnings_all = [f"{w.path}: {w.message}" if w.path else w.message for w in report.warnings]

    if report.kind == "plugin_config":
        if runner is not None:
            raise CommandError(
                f"{path}: --runner applies to a runner config.toml, not to a plugin_config file", EXIT_USAGE
            )
        entry = source.entries[0]
        if report.errors or entry.loaded is None or entry.raw is None:
            raise CommandError(report.format_text(), EXIT_FAILED)
        return Target(
            str(path), "", None, entry.loaded.config, entry.raw, ConnectorConfig(), False, warnings_all, entry.loaded
        )

    # The runners that use this plugin, in the order the report names them (errors first): with two
    # runners of the same name, --runner NAME picks the first of them in this order.
    using = {e.index: e for e in source.plugin_entries if e.index is not None}
    named = [_PLUGIN_PATH.match(path) for path in [*(e.path for e in report.errors), *(c.path for c in report.configs)]]
    order = [int(m.group(1)) for m in named if m is not None and int(m.group(1)) in using]
    ours = {i: using[i] for i in dict.fromkeys([*order, *sorted(using)])}

    def label(i: int) -> str:
        return ours[i].runner or f"#{i}"

    if runner is not None:
        picked = [i for i in ours if ours[i].runner == runner] or (
            [int(runner)] if runner.isdigit() and int(runner) in ours else []
        )
        if not picked:
            known = ", ".join(label(i) for i in sorted(ours)) or "none"
            raise CommandError(
                f"{path}: no runner {runner!r} uses fleeting-plugin-openstack (runners that do: {known})", EXIT_USAGE
            )
        index = picked[0]
    else:
        if len(ours) > 1:
            raise CommandError(
                f"{path}: {len(ours)} runners use fleeting-plugin-openstack "
                f"({', '.join(label(i) for i in sorted(ours))}): choose one with --runner NAME",
                EXIT_USAGE,
            )
        if report.errors or not ours:
            raise CommandError(report.format_text(), EXIT_FAILED if report.errors else EXIT_USAGE)
        index = next(iter(ours))
    prefix = f"runners[{index}]"
    own_errors = [e for e in report.errors if e.path == prefix or e.path.startswith(prefix + ".")]
    chosen = ours[index]
    if own_errors or chosen.loaded is None or chosen.raw is None:
        lines = [f"{path}: {e.path}: error: {e.message}" for e in own_errors] or [report.format_text()]
        raise CommandError("\n".join(lines), EXIT_FAILED)
    warnings = [w for w in warnings_all if w.startswith(prefix + ".") or not w.startswith("runners[")]
    connector, external = runner_connector(chosen, warnings)
    return Target(
        str(path),
        chosen.path,
        chosen.runner,
        chosen.loaded.config,
        chosen.raw,
        connector,
        external,
        warnings,
        chosen.loaded,
    )


def observe(target: Target) -> OpenStackProvider:
    """A read-only provider initialised exactly as the plugin's Init would be."""
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.provider.group import OpenStackProvider

    provider = OpenStackProvider(observe=True)
    try:
        provider.init(json.dumps(target.raw).encode(), Settings(target.connector), loaded=target.loaded)
    except ValueError as exc:
        raise CommandError(f"Init failed: {exc}", EXIT_FAILED) from None
    return provider


# --------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------


def human_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d{h:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
