"""``fleeting-plugin-openstack validate PATH [--check-cloud] [--json]``.

PATH is either a plugin_config JSON file, or a gitlab-runner ``config.toml``:
then every ``[[runners]]`` entry whose ``autoscaler.plugin`` is this plugin
(or that has an ``autoscaler.plugin_config`` and no other plugin) is
validated, with paths prefixed ``runners[i].autoscaler.plugin_config.``.

Every error and warning is reported with its path.  Exit status (the scheme
of every command, :mod:`.cmdline`): 0 valid (warnings allowed), 1 any error,
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
import json
import os
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fleeting_openstack.config import ConfigError, ConfigIssue, PluginConfig, load_plugin_config

__all__ = [
    "CheckCloud",
    "UnreadableFileError",
    "ValidatedConfig",
    "ValidationReport",
    "add_arguments",
    "main",
    "run",
    "validate_data",
    "validate_path",
]

CheckCloud = Callable[[PluginConfig], Sequence[ConfigIssue]]

#: Executors that use [runners.autoscaler].
AUTOSCALER_EXECUTORS = ("docker-autoscaler", "instance")


class UnreadableFileError(Exception):
    """PATH cannot be opened or is not UTF-8 text (exit status 2)."""


class NoSuchRunnerError(Exception):
    """``--runner`` names no runner that uses this plugin, or PATH is no config.toml (exit status 2)."""

#: Repositories of the Go OpenStack plugin: a runner whose ``plugin =`` names one runs that plugin.
GO_PLUGINS = ("sardinasystems/fleeting-plugin-openstack",)


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
            lines.append(f"{self.source}: valid ({count} plugin_config{'s' if count != 1 else ''}, "
                         f"{n_warn} warning{'s' if n_warn != 1 else ''})")
        else:
            lines.append(f"{self.source}: invalid ({n_err} error{'s' if n_err != 1 else ''}, "
                         f"{n_warn} warning{'s' if n_warn != 1 else ''})")
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------

def _run_check_cloud(check_cloud: CheckCloud, cfg: PluginConfig, prefix: str, report: ValidationReport,
                     connector: Any) -> None:
    import inspect

    try:
        takes_connector = len(inspect.signature(check_cloud).parameters) > 1
        found = list((check_cloud(cfg, connector) if takes_connector else check_cloud(cfg)) or ())  # type: ignore[call-arg]
    except Exception as exc:  # the cloud check must not hide the offline result
        report.errors.append(ConfigIssue(prefix, f"cloud check failed: {type(exc).__name__}: {exc}"))
        return
    for issue in found:
        issue = issue.with_prefix(prefix)
        target = {"warning": report.warnings, "info": report.resolved}.get(issue.severity, report.errors)
        if issue not in target:  # an offline check may have found it already
            target.append(issue)


def _validate_one(raw: Any, prefix: str, report: ValidationReport, *, runner: str | None,
                  env: Mapping[str, str] | None, check_cloud: CheckCloud | None,
                  connector: Any = None) -> PluginConfig | None:
    try:
        loaded = load_plugin_config(raw, env=env)
    except ConfigError as exc:
        report.errors.extend(e.with_prefix(prefix) for e in exc.errors)
        report.warnings.extend(w.with_prefix(prefix) for w in exc.warnings)
        return None
    report.warnings.extend(w.with_prefix(prefix) for w in loaded.warning_issues)
    report.configs.append(ValidatedConfig(prefix, loaded.config, runner))
    from fleeting_openstack.cli.cloudcheck import strategy_issues

    report.errors.extend(i.with_prefix(prefix) for i in strategy_issues(loaded.config))
    if check_cloud is not None:
        _run_check_cloud(check_cloud, loaded.config, prefix, report, connector)
    return loaded.config


def _is_our_plugin(plugin: Any) -> bool:
    return isinstance(plugin, str) and "openstack" in plugin.lower()


def _names_go_plugin(plugin: str) -> bool:
    return any(repo in plugin.lower() for repo in GO_PLUGINS)


def _validate_runner_config(data: Mapping[str, Any], report: ValidationReport, *,
                            env: Mapping[str, str] | None, check_cloud: CheckCloud | None,
                            runner: str | None = None) -> None:
    runners = data.get("runners")
    if not isinstance(runners, list) or not runners:
        report.errors.append(ConfigIssue("runners", "no [[runners]] entries: nothing to validate"))
        return
    found = 0
    ours: list[str] = []
    for i, entry in enumerate(runners):
        rpath = f"runners[{i}]"
        if not isinstance(entry, Mapping):
            if runner is None:
                report.errors.append(ConfigIssue(rpath, "must be a table"))
            continue
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        executor = entry.get("executor")
        autoscaler = entry.get("autoscaler")
        if runner is not None:
            if isinstance(autoscaler, Mapping) and (autoscaler.get("plugin") is None
                                                     or _is_our_plugin(autoscaler.get("plugin"))):
                ours.append(name or f"#{i}")
            if runner != name and runner != str(i):
                continue
        if autoscaler is None:
            if executor in AUTOSCALER_EXECUTORS:
                report.errors.append(ConfigIssue(f"{rpath}.autoscaler",
                                                 f"is required by executor {executor!r}"))
            continue
        if not isinstance(autoscaler, Mapping):
            report.errors.append(ConfigIssue(f"{rpath}.autoscaler", "must be a table"))
            continue
        plugin = autoscaler.get("plugin")
        if plugin is not None and not _is_our_plugin(plugin):
            report.warnings.append(ConfigIssue(f"{rpath}.autoscaler.plugin",
                                               f"{plugin!r} is not fleeting-plugin-openstack; runner skipped"))
            continue
        if isinstance(plugin, str) and _names_go_plugin(plugin):
            report.warnings.append(ConfigIssue(
                f"{rpath}.autoscaler.plugin",
                f"{plugin!r} is the Go OpenStack plugin, not this one: the runner would run that plugin with "
                "this plugin_config; set plugin = \"fleeting-plugin-openstack\" (on the runner's PATH) or the "
                "repository you bootstrapped this plugin into"))
        if executor not in AUTOSCALER_EXECUTORS:
            report.warnings.append(ConfigIssue(f"{rpath}.executor",
                                               f"{executor!r} does not use [runners.autoscaler]; use "
                                               "\"docker-autoscaler\" or \"instance\""))
        if plugin is None:
            report.errors.append(ConfigIssue(f"{rpath}.autoscaler.plugin",
                                             "is required (e.g. \"fleeting-plugin-openstack\")"))
        ppath = f"{rpath}.autoscaler.plugin_config"
        plugin_config = autoscaler.get("plugin_config")
        found += 1
        if plugin_config is None:
            report.errors.append(ConfigIssue(ppath, "is required: [runners.autoscaler.plugin_config] is missing"))
            continue
        if not isinstance(plugin_config, Mapping):
            report.errors.append(ConfigIssue(ppath, "must be a table"))
            continue
        connector = None
        if check_cloud is not None:
            from fleeting_openstack.cli.common import _connector

            notes: list[str] = []
            connector, _ = _connector(autoscaler.get("connector_config"), notes,
                                      f"{rpath}.autoscaler.connector_config")
        cfg = _validate_one(plugin_config, ppath, report, runner=name, env=env, check_cloud=check_cloud,
                            connector=connector)
        max_instances = autoscaler.get("max_instances")
        if (cfg is not None and isinstance(max_instances, int) and not isinstance(max_instances, bool)
                and max_instances > cfg.max_size):
            report.warnings.append(ConfigIssue(f"{rpath}.autoscaler.max_instances",
                                               f"{max_instances} exceeds the plugin's max_size ({cfg.max_size}): "
                                               "the runner will never get that many instances"))
    if runner is not None and not found:
        raise NoSuchRunnerError(f"{report.source}: no runner {runner!r} uses fleeting-plugin-openstack "
                                f"(runners that do: {', '.join(ours) or 'none'})")
    if not found:
        report.errors.append(ConfigIssue("runners", "no [[runners]] entry uses fleeting-plugin-openstack "
                                                    "([runners.autoscaler] with its plugin_config)"))


def validate_data(data: Mapping[str, Any], *, kind: str, source: str = "<data>",
                  check_cloud: CheckCloud | None = None,
                  env: Mapping[str, str] | None = None, runner: str | None = None) -> ValidationReport:
    """Validate already-decoded data: ``kind`` is "plugin_config" or "runner_config"."""
    report = ValidationReport(source=source, kind=kind)
    if kind == "runner_config":
        _validate_runner_config(data, report, env=env, check_cloud=check_cloud, runner=runner)
    else:
        _validate_one(data, "", report, runner=None, env=env, check_cloud=check_cloud)
    return report


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{path}: not UTF-8 text: {exc}") from exc


def validate_path(path: str | os.PathLike[str], check_cloud: CheckCloud | None = None, *,
                  env: Mapping[str, str] | None = None, runner: str | None = None) -> ValidationReport:
    """Validate a plugin_config JSON file or a gitlab-runner config.toml.

    The kind is chosen by extension (``.json`` / ``.toml``), else by content
    (JSON if it parses, else TOML).  Raises :class:`UnreadableFileError` when
    the file cannot be read; syntax errors are reported as errors.
    ``env`` (default ``os.environ``) feeds the environment overrides.
    """
    p = Path(path)
    source = str(path)
    text = _read(p)
    suffix = p.suffix.lower()
    if suffix == ".json":
        kind = "plugin_config"
    elif suffix == ".toml":
        kind = "runner_config"
    else:
        try:
            json.loads(text)
            kind = "plugin_config"
        except ValueError:
            kind = "runner_config" if not text.lstrip().startswith("{") else "plugin_config"

    if kind == "plugin_config":
        if runner is not None:
            raise NoSuchRunnerError(f"{source}: --runner applies to a runner config.toml, not to a "
                                    "plugin_config file")
        report = ValidationReport(source=source, kind=kind)
        _validate_one(text, "", report, runner=None, env=env, check_cloud=check_cloud)
        return report
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return ValidationReport(source=source, kind=kind,
                                errors=[ConfigIssue("", f"not valid TOML: {exc}")])
    return validate_data(data, kind=kind, source=source, check_cloud=check_cloud, env=env, runner=runner)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``validate`` arguments to ``parser`` (e.g. a subcommand parser)."""
    parser.add_argument("path", metavar="PATH",
                        help="plugin_config JSON file, or gitlab-runner config.toml")
    parser.add_argument("--runner", metavar="NAME",
                        help="validate only this [[runners]] entry of config.toml (its name, or its index from 0)")
    parser.add_argument("--check-cloud", action="store_true",
                        help="also run every check Init runs in the cloud (image, flavor, networks, login "
                             "user, state directory...) and show what was resolved")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _default_check_cloud() -> CheckCloud | None:
    try:
        from fleeting_openstack.cli import cloudcheck
    except ImportError:
        return None
    return getattr(cloudcheck, "check_cloud", None)


def run(args: argparse.Namespace, check_cloud: CheckCloud | None = None, *,
        stdout: TextIO | None = None, stderr: TextIO | None = None,
        env: Mapping[str, str] | None = None) -> int:
    """Run the subcommand for parsed ``args`` (see :func:`add_arguments`)."""
    from fleeting_openstack.cli.common import Progress

    out = stdout or sys.stdout
    err = stderr or sys.stderr

    checker = None
    progress: Any = contextlib.nullcontext()
    if args.check_cloud:
        checker = check_cloud or _default_check_cloud()
        if checker is None:
            print("fleeting-plugin-openstack validate: --check-cloud is not available in this build", file=err)
            return 2
        # One spinner line on stderr while the cloud answers (only on a terminal).
        progress = Progress(err, "checking the config offline")
        if check_cloud is None:
            default = checker

            def checker(cfg: PluginConfig, connector: Any = None) -> Sequence[ConfigIssue]:  # noqa: F811
                return default(cfg, connector, say=progress.say)  # type: ignore[call-arg]
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


def main(argv: Sequence[str] | None = None, *, check_cloud: CheckCloud | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         env: Mapping[str, str] | None = None) -> int:
    """``validate`` subcommand entry point; ``argv`` excludes the word "validate".

    Returns the exit status: 0 valid, 1 errors, 2 unreadable file or bad usage.
    """
    parser = add_arguments(argparse.ArgumentParser(
        prog="fleeting-plugin-openstack validate",
        description="Validate a plugin_config JSON file or a gitlab-runner config.toml."))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    return run(args, check_cloud, stdout=stdout, stderr=stderr, env=env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
