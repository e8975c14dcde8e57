"""``fleeting-plugin-openstack validate PATH [--check-cloud] [--json]``.

PATH is either a plugin_config JSON file, or a gitlab-runner ``config.toml``:
then every ``[[runners]]`` entry whose ``autoscaler.plugin`` is this plugin
(or that has an ``autoscaler.plugin_config`` and no other plugin) is
validated, with paths prefixed ``runners[i].autoscaler.plugin_config.``.
The file is read, and each plugin_config loaded, once by
:func:`fleeting_openstack.config.sources.read_source`; this module adds the
offline strategy checks and the cloud's, and presents the report
(:func:`report_for`, also used by the commands for people).

Every error and warning is reported with its path.  Exit status (the scheme
of every command, :mod:`.parser`): 0 valid (warnings allowed), 1 any error,
2 the file cannot be read, no such ``--runner``, or bad usage.

``--check-cloud`` also runs every check Init runs against the cloud, through a
``check_cloud(PluginConfig[, connector, say]) -> list[ConfigIssue]`` callable:
passed to :func:`main`/:func:`validate_path`, or else
``fleeting_openstack.cli.cloudcheck.check_cloud``. Issues of severity ``info`` it
returns are what was resolved (shown, never counted as problems).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from fleeting_openstack.config import ConfigIssue, PluginConfig
from fleeting_openstack.config.sources import (
    AUTOSCALER_EXECUTORS,
    GO_PLUGINS,
    NoSuchRunnerError,
    Source,
    UnreadableFileError,
    read_source,
    source_from_data,
)
from fleeting_openstack.contract.instancegroup import ConnectorConfig

__all__ = [
    "AUTOSCALER_EXECUTORS",
    "GO_PLUGINS",
    "CheckCloud",
    "NoSuchRunnerError",
    "UnreadableFileError",
    "ValidatedConfig",
    "ValidationReport",
    "add_arguments",
    "main",
    "report_for",
    "run",
    "validate_data",
    "validate_path",
]

#: ``check_cloud(config)``, or ``check_cloud(config, connector)`` (the runner's connector_config; None
#: for a plugin_config file): the cloud's issues.
CheckCloud = Callable[..., Sequence[ConfigIssue]]


@dataclass(frozen=True)
class ValidatedConfig:
    """One plugin_config that passed validation.

    ``path``: its location ("" for a plugin_config file,
    ``runners[0].autoscaler.plugin_config`` in a config.toml);
    ``runner``: the runner's ``name`` if any.
    """

    path: str
    config: PluginConfig
    runner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "runner": self.runner,
            "name": self.config.name,
            "provider_id": self.config.provider_id,
            "strategy": self.config.strategy,
            "nova_microversion": self.config.nova_microversion,
        }


@dataclass
class ValidationReport:
    """Result of validating one file."""

    source: str
    kind: str  # "plugin_config" | "runner_config"
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    configs: list[ValidatedConfig] = field(default_factory=list)
    resolved: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "valid": self.ok,
            "errors": [{"path": e.path, "message": e.message} for e in self.errors],
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
            "configs": [c.to_dict() for c in self.configs],
            "resolved": [{"path": r.path, "value": r.message} for r in self.resolved],
        }

    def format_text(self) -> str:
        lines = []
        for sev, items in (("error", self.errors), ("warning", self.warnings)):
            for issue in items:
                where = f" {issue.path}:" if issue.path else ""
                lines.append(f"{self.source}:{where} {sev}: {issue.message}")
        for item in self.resolved:
            lines.append(f"{self.source}: {item.path}: resolved: {item.message}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        if self.ok:
            count = len(self.configs)
            lines.append(
                f"{self.source}: valid ({count} plugin_config{'s' if count != 1 else ''}, "
                f"{n_warn} warning{'s' if n_warn != 1 else ''})"
            )
        else:
            lines.append(
                f"{self.source}: invalid ({n_err} error{'s' if n_err != 1 else ''}, "
                f"{n_warn} warning{'s' if n_warn != 1 else ''})"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _run_check_cloud(
    check_cloud: CheckCloud, cfg: PluginConfig, prefix: str, report: ValidationReport, connector: ConnectorConfig | None
) -> None:
    import inspect

    try:
        takes_connector = len(inspect.signature(check_cloud).parameters) > 1
        found = list((check_cloud(cfg, connector) if takes_connector else check_cloud(cfg)) or ())
    except Exception as exc:  # noqa: BLE001 - the cloud check must not hide the offline result
        report.errors.append(ConfigIssue(prefix, f"cloud check failed: {type(exc).__name__}: {exc}"))
        return
    for issue in found:
        issue = _at(issue, prefix, _connector_key(prefix) if connector is not None else None)
        target = {"warning": report.warnings, "info": report.resolved}.get(issue.severity, report.errors)
        if issue not in target:  # an offline check may have found it already
            target.append(issue)


def _connector_key(plugin_config_path: str) -> str | None:
    """``runners[0].autoscaler.plugin_config`` -> ``runners[0].autoscaler.connector_config``: where
    the runner's connector_config is written (None for a plugin_config file: not in it)."""
    head, sep, _ = plugin_config_path.rpartition(".plugin_config")
    return f"{head}.connector_config" if sep else None


def _at(issue: ConfigIssue, prefix: str, connector_key: str | None) -> ConfigIssue:
    """``issue`` at the key the operator wrote: a plugin_config key below ``prefix``; the runner's
    connector_config (``connector_config.*``, or already absolute) at ``connector_key``."""
    if connector_key is not None:
        if issue.path == connector_key or issue.path.startswith(connector_key + "."):
            return issue
        if issue.path == "connector_config" or issue.path.startswith("connector_config."):
            return ConfigIssue(connector_key + issue.path[len("connector_config") :], issue.message, issue.severity)
    return issue.with_prefix(prefix)


def _add(report: ValidationReport, issues: Iterable[ConfigIssue]) -> None:
    for issue in issues:
        (report.warnings if issue.severity == "warning" else report.errors).append(issue)


def report_for(source: Source, check_cloud: CheckCloud | None = None, *, clouds_file: bool = True) -> ValidationReport:
    """The report on a :class:`~fleeting_openstack.config.sources.Source` (read and loaded once):
    its issues, plus for each config the offline strategy checks and, with ``check_cloud``, the cloud's.
    Without ``clouds_file`` the clouds.yaml is not checked (a command that needs no cloud)."""
    from fleeting_openstack.cli.cloudcheck import strategy_issues

    report = ValidationReport(source=source.source, kind=source.kind)
    for entry in source.entries:
        _add(report, entry.issues)
        if entry.loaded is not None:
            cfg = entry.loaded.config
            report.configs.append(ValidatedConfig(entry.path, cfg, entry.runner))
            table = entry.autoscaler.get("connector_config") if entry.autoscaler is not None else None
            connector_key = _connector_key(entry.path) if entry.autoscaler is not None else None
            found = strategy_issues(
                cfg, table if isinstance(table, Mapping) else None, connector_key, clouds_file=clouds_file
            )
            _add(report, (_at(i, entry.path, connector_key) for i in found))
            if check_cloud is not None:
                connector = entry.connector([])[0] if entry.autoscaler is not None else None
                _run_check_cloud(check_cloud, cfg, entry.path, report, connector)
        _add(report, entry.after)
    _add(report, source.issues)
    return report


def validate_data(
    data: Mapping[str, Any],
    *,
    kind: str,
    source: str = "<data>",
    check_cloud: CheckCloud | None = None,
    env: Mapping[str, str] | None = None,
    runner: str | None = None,
) -> ValidationReport:
    """Validate already-decoded data: ``kind`` is "plugin_config" or "runner_config"."""
    return report_for(source_from_data(data, kind=kind, source=source, env=env, runner=runner), check_cloud)


def validate_path(
    path: str | os.PathLike[str],
    check_cloud: CheckCloud | None = None,
    *,
    env: Mapping[str, str] | None = None,
    runner: str | None = None,
) -> ValidationReport:
    """Validate a plugin_config JSON file or a gitlab-runner config.toml.

    The kind is chosen by extension (``.json`` / ``.toml``), else by content
    (JSON if it parses, else TOML).  Raises :class:`UnreadableFileError` when
    the file cannot be read; syntax errors are reported as errors.
    ``env`` (default ``os.environ``) feeds the environment overrides.
    """
    return report_for(read_source(path, env=env, runner=runner), check_cloud)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``validate`` arguments to ``parser`` (e.g. a subcommand parser)."""
    parser.add_argument("path", metavar="PATH", help="plugin_config JSON file, or gitlab-runner config.toml")
    parser.add_argument(
        "--runner",
        metavar="NAME",
        help="validate only this [[runners]] entry of config.toml (its name, or its index from 0)",
    )
    parser.add_argument(
        "--check-cloud",
        action="store_true",
        help="also run every check Init runs in the cloud (image, flavor, networks, login "
        "user, state directory...) and show what was resolved",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the log lines of the SDK (with --check-cloud)"
    )
    return parser


def _default_check_cloud() -> CheckCloud | None:
    try:
        from fleeting_openstack.cli import cloudcheck
    except ImportError:
        return None
    return getattr(cloudcheck, "check_cloud", None)


def run(
    args: argparse.Namespace,
    check_cloud: CheckCloud | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run the subcommand for parsed ``args`` (see :func:`add_arguments`)."""
    from fleeting_openstack.cli.common import Progress

    out = stdout or sys.stdout
    err = stderr or sys.stderr

    checker: CheckCloud | None = None
    progress: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if args.check_cloud:
        checker = check_cloud or _default_check_cloud()
        if checker is None:
            print("fleeting-plugin-openstack validate: --check-cloud is not available in this build", file=err)
            return 2
        # One spinner line on stderr while the cloud answers (only on a terminal).
        spinner = Progress(err, "checking the config offline")
        progress = spinner
        if check_cloud is None:  # the built-in check tells the spinner what it is doing
            checker = functools.partial(checker, say=spinner.say)
    try:
        with progress:
            report = validate_path(args.path, checker, env=env, runner=getattr(args, "runner", None))
    except (UnreadableFileError, NoSuchRunnerError) as exc:
        if args.json:
            key = "unreadable" if isinstance(exc, UnreadableFileError) else "error"
            print(json.dumps({"source": str(args.path), "valid": False, key: str(exc)}), file=out)
        print(f"fleeting-plugin-openstack validate: {exc}", file=err)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), file=out)
    else:
        print(report.format_text(), file=out)
    return report.exit_code


def main(
    argv: Sequence[str] | None = None,
    *,
    check_cloud: CheckCloud | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """``validate`` subcommand entry point; ``argv`` excludes the word "validate".

    Returns the exit status: 0 valid, 1 errors, 2 unreadable file or bad usage.
    """
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="fleeting-plugin-openstack validate",
            description="Validate a plugin_config JSON file or a gitlab-runner config.toml.",
        )
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    return run(args, check_cloud, stdout=stdout, stderr=stderr, env=env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
