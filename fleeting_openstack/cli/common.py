"""Commands for people: ``status``, ``reap`` and ``plugins``.

All three read what ``validate`` reads — a plugin_config JSON file or the
runner's ``config.toml`` (its ``[runners.autoscaler.plugin_config]`` and
``[runners.autoscaler.connector_config]``; ``--runner NAME`` picks one runner
when several use this plugin) — through :mod:`fleeting_openstack.config.sources`
(read and loaded once) and :mod:`fleeting_openstack.cli.validate`'s report, so
a config these commands accept is one the runner's plugin accepts.

* ``status``: every server of the group, with the state the plugin reports to
  the runner. The state comes from the provider's own Update logic run
  read-only (``provider.observer.GroupObserver``): nothing is deleted, tagged
  or written, so it is safe next to a running runner.
* ``reap``: what the group leaked — servers the plugin would delete, Neutron
  ports and floating IPs, Nova keypairs and Cinder volumes (see
  :mod:`fleeting_openstack.provider.leaks` for the exact rules) — listed,
  and deleted only with ``--yes`` (:mod:`.reap`).
* ``plugins``: the installed boot strategies and site plugins.

Output: a table for people, ``--json`` for scripts (stdout). Anything that
waits on the cloud shows a one-line spinner on stderr, only when stderr is a
terminal (never in pipes, logs or CI), erased before the result is printed.

Exit status (the scheme of every command, :mod:`.parser`): 0 done; 1 problems
found (an invalid configuration, Init fails, the cloud refused, a delete
failed); 2 bad usage or cannot run (an unreadable file, no such runner).

Like the plugin, these commands talk to OpenStack only through the adapter
(:class:`fleeting_openstack.openstack.client.Cloud`), never an SDK connection.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from fleeting_openstack.config import LoadedConfig, PluginConfig
from fleeting_openstack.contract.instancegroup import ConnectorConfig

if TYPE_CHECKING:
    from fleeting_openstack.provider.observer import GroupObserver

PROG = "fleeting-plugin-openstack"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    raw: Mapping[str, Any]  # plugin_config as written (what the runner sends)
    connector: ConnectorConfig
    use_external_addr: bool = False
    warnings: list[str] = field(default_factory=list)
    #: ``config`` as loaded (with its warnings), so Init does not load and validate it again.
    loaded: LoadedConfig | None = None

    def describe(self) -> dict[str, Any]:
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
    from fleeting_openstack.cli import validate
    from fleeting_openstack.config.sources import UnreadableFileError, read_source

    try:
        source = read_source(path)
    except UnreadableFileError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    report = validate.report_for(source, clouds_file=clouds_file)
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
    connector, external = chosen.connector(warnings)
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


def observe(target: Target) -> GroupObserver:
    """The group observed read-only, opened exactly as the plugin's Init would be."""
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.provider.observer import GroupObserver
    from fleeting_openstack.transport import hclog

    observer = GroupObserver(set_log_level=hclog.set_level)
    try:
        observer.open(json.dumps(target.raw).encode(), Settings(target.connector), loaded=target.loaded)
    except ValueError as exc:
        raise CommandError(f"Init failed: {exc}", EXIT_FAILED) from None
    return observer


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


@contextlib.contextmanager
def _quiet_logs(verbose: bool, stream: TextIO) -> Iterator[None]:
    """Plain log lines on stderr; the provider's own warnings only with -v (status
    already shows them as reasons). Restores the logging setup afterwards."""
    root = logging.getLogger()
    provider_log = logging.getLogger("fleeting_openstack.provider")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old = (root.level, provider_log.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        provider_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old[0])
        provider_log.setLevel(old[1])


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

HELP = {
    "status": "every server of the group and the state the plugin reports (read-only)",
    "reap": "what the group leaked; deleted only with --yes",
    "plugins": "installed boot strategies and site plugins, with their hooks",
}
DESCRIPTIONS = {
    "status": "Every server of the group: Nova status, the state the plugin reports to the runner, "
    "age, addresses, image, flavor, readiness and fault. Read-only.",
    "reap": "Find what the group leaked (unusable servers, ports, floating IPs, keypairs, volumes); "
    "delete it only with --yes.",
    "plugins": "Installed boot strategies and site plugins, their versions and hooks; with PATH, the "
    "strategy that config selects is marked.",
}


def add_arguments(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The arguments of ``command`` (a subparser of :func:`fleeting_openstack.cli.parser.build_parser`)."""
    from fleeting_openstack.cli.parser import add_path

    add_path(parser, optional=command == "plugins")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    if command == "reap":
        parser.add_argument("--yes", action="store_true", help="really delete what was found")
    if command != "plugins":
        parser.add_argument("-v", "--verbose", action="store_true", help="log lines of the plugin and SDK")
    return parser


def _command(command: str) -> Any:
    """The function of ``command``, each in its module of :mod:`fleeting_openstack.cli`."""
    import importlib

    return getattr(importlib.import_module(f"fleeting_openstack.cli.{command}"), f"cmd_{command}")


def main(command: str, argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``command`` (status, reap, plugins) with ``argv``; returns the exit status."""
    from fleeting_openstack.cli import parser as cmdline

    return cmdline.main([command, *argv], stdout=stdout, stderr=stderr)


def run(command: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``command`` for parsed ``args``; returns the exit status."""
    try:
        with _quiet_logs(getattr(args, "verbose", False), err):
            code: int = _command(command)(args, out, err)
            return code
    except CommandError as exc:
        err.write(f"{PROG} {command}: {exc}\n")
        _json_failure(args, out, str(exc), exc.code)
        return exc.code
    except Exception as exc:
        if getattr(args, "verbose", False):
            raise
        err.write(f"{PROG} {command}: {type(exc).__name__}: {exc}\n")
        _json_failure(args, out, f"{type(exc).__name__}: {exc}", EXIT_FAILED)
        return EXIT_FAILED


def _json_failure(args: argparse.Namespace, out: TextIO, error: str, code: int) -> None:
    """With ``--json``, stdout is always one JSON document: on failure ``{"error", "exit_status"}``."""
    if getattr(args, "json", False):
        doc = {"path": getattr(args, "path", None), "error": error, "exit_status": code}
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
