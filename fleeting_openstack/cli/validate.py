"""``fleeting-plugin-openstack validate PATH [--check-cloud] [--json]``.

PATH is either a plugin_config JSON file, or a gitlab-runner ``config.toml``:
then every ``[[runners]]`` entry whose ``autoscaler.plugin`` is this plugin
(or that has an ``autoscaler.plugin_config`` and no other plugin) is
validated, with paths prefixed ``runners[i].autoscaler.plugin_config.``.
The file is read, and each plugin_config loaded, once by
:func:`fleeting_openstack.config.sources.read_source`; this module adds the
offline strategy checks and the cloud's, and presents the report
(:func:`.report.report_for`, where every command that reads a PATH starts).

Every error and warning is reported with its path.  Exit status (the scheme
of every command, :mod:`.usage`): 0 valid (warnings allowed), 1 any error,
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
from collections.abc import Mapping, Sequence
from typing import TextIO

from fleeting_openstack.cli.report import CheckCloud, ValidatedConfig, ValidationReport, report_for
from fleeting_openstack.config.sources import (
    AUTOSCALER_EXECUTORS,
    GO_PLUGINS,
    NoSuchRunnerError,
    UnreadableFileError,
    read_source,
    source_from_data,
)

__all__ = [
    "AUTOSCALER_EXECUTORS",
    "GO_PLUGINS",
    "CheckCloud",
    "NoSuchRunnerError",
    "UnreadableFileError",
    "ValidatedConfig",
    "ValidationReport",
    "add_arguments",
    "default_check_cloud",
    "main",
    "report_for",
    "run",
    "validate_data",
    "validate_path",
]


def validate_data(
    data: Mapping[str, object],
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


def default_check_cloud() -> CheckCloud | None:
    """The built-in cloud check (:func:`.cloudcheck.check_cloud`), or None in a build without it."""
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
        checker = check_cloud or default_check_cloud()
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
