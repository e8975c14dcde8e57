"""The commands for people: one argparse tree.

Every command is a subparser of one parser, so every command answers
``-h/--help`` (and acts on nothing when asked for help), usage errors look
the same everywhere, and shell completion (:mod:`.completion`) and the docs
tests read the commands and flags from the same tree.

Exit status, the same for every command (:data:`EXIT_CODES`):

* 0: the command did its job and found nothing wrong;
* 1: problems found: an invalid config, a cloud check or Init check that
  fails, the cloud refused a request, a delete failed;
* 2: usage error or cannot run: bad arguments, an unreadable file, no such
  runner in config.toml, a command this build does not have.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from fleeting_openstack.cli.usage import (
    EPILOG,
    EXIT_CODES,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    PROG,
    Formatter,
    Parser,
    add_path,
)

__all__ = ["EXIT_CODES", "EXIT_OK", "EXIT_PROBLEMS", "EXIT_USAGE", "PROG", "build_parser", "main", "subcommands"]


def _version(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack import buildinfo

    out.write(buildinfo.version_block())
    return EXIT_OK


def _bootstrap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import bootstrap

    return bootstrap.run(args.repository, out, err)


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import validate

    return validate.run(args, stdout=out, stderr=err)


def _people(command: str) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        return run_people(command, args, out, err)

    return run


def _render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import render_user_data as render

    return render.run(args, out, err)


def _completion(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import completion

    out.write(completion.script(args.shell, build_parser()))
    return EXIT_OK


def _help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        if args.topic:
            sub = subcommands(parser).get(args.topic)
            if sub is None:
                err.write(f"{PROG} help: no command {args.topic!r}\n")
                return EXIT_USAGE
            out.write(sub.format_help())
        else:
            out.write(parser.format_help())
        return EXIT_OK

    return run


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (also read by shell completion and the docs tests)."""
    parser = Parser(
        prog=PROG,
        epilog=EPILOG,
        formatter_class=Formatter,
        description="GitLab fleeting plugin for OpenStack. gitlab-runner starts it as a plugin; "
        "people use the commands below.",
    )
    parser.add_argument("--version", "-version", action="store_true", help="print version information")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def add(name: str, help_: str, func: Callable[..., int], description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=description or help_, epilog=EPILOG, formatter_class=Formatter)
        p.set_defaults(func=func)
        return p

    add("version", "print version information (also --version, -version)", _version)

    p = add(
        "bootstrap",
        "install this executable into the fleeting plugin directory",
        _bootstrap,
        "As fleeting's plugin.Main: copy every file beside this executable (in a fleeting-artifact image: "
        "/plugin/plugin alone) into <plugins>/<REPOSITORY>/<version>/ and print that directory; an existing "
        "one is kept. <plugins>: $FLEETING_PLUGIN_PATH or /plugins, which must exist. REPOSITORY is completed "
        "as the runner completes a plugin reference (a bare name: registry.gitlab.com/gitlab-org/fleeting/"
        "plugins/NAME; no '.' in the first element: registry.gitlab.com/...; a :tag dropped) and escaped as "
        "a Go module path. <version>: this version; $FLEETING_PLUGIN_PKG_VERSION only when this one is not "
        "X.Y.Z (a difference is warned about on stderr). Errors are printed on stdout, exit status 1.",
    )
    p.add_argument(
        "repository",
        metavar="REPOSITORY",
        nargs="?",
        help="plugin repository, e.g. registry.gitlab.com/gitlab-org/fleeting/plugins/aws or aws",
    )

    p = add(
        "validate",
        "check a plugin_config JSON file or a runner config.toml",
        _validate,
        "List every problem in the config, each with its path. --check-cloud also runs every check "
        "Init runs against the cloud (authentication, microversion, image, flavor, networks, "
        "state directory...) and shows what was resolved.",
    )
    from fleeting_openstack.cli import validate

    validate.add_arguments(p)

    for name, help_ in PEOPLE_HELP.items():
        p = add(name, help_, _people(name), PEOPLE_DESCRIPTIONS[name])
        add_people_arguments(p, name)

    p = add(
        "render-user-data",
        "print the user_data Nova would receive for a new instance",
        _render,
        "Render the user_data exactly as the plugin sends it to Nova for a new instance (decoded from "
        "base64): the boot strategy and site plugins applied, templating applied, with a throwaway SSH "
        "key. Offline: the image is not looked up and clouds.yaml is not read unless --check-cloud is given.",
    )
    add_path(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log lines of the plugin and SDK")
    p.add_argument(
        "--username",
        metavar="NAME",
        help="the login user (the runner's connector_config.username); offline, without it the strategy must name one",
    )
    p.add_argument(
        "--instance-name",
        metavar="NAME",
        help="name of the new instance, one the server_spec.name template gives (its number is the index; "
        "default: the template with index 1)",
    )
    p.add_argument(
        "--check-cloud",
        action="store_true",
        help="look the image up in the cloud, as Init does (its properties can change the user_data)",
    )

    p = add(
        "completion",
        "print a shell completion script (bash or zsh)",
        _completion,
        "Print a completion script generated from this command tree. bash: "
        f"`{PROG} completion bash > /etc/bash_completion.d/{PROG}`; zsh: "
        f'`{PROG} completion zsh > "${{fpath[1]}}/_{PROG}"`.',
    )
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell")

    p = add(
        "protocol",
        "the fleeting contract served when BINARY (default: gitlab-runner) starts the plugin",
        _protocol,
        "protocol [BINARY] [--json]: the wire contract read from the runner's executable "
        f"(docs/protocol.md). Its arguments are its own: `{PROG} protocol --help`.",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the protocol command")

    p = add("help", "show the help of the program or of one command", _help(parser))
    p.add_argument("topic", metavar="COMMAND", nargs="?", help="the command")
    return parser


def _protocol(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return run_protocol(list(args.args), err)


def run_protocol(argv: list[str], err: TextIO) -> int:
    try:
        from fleeting_openstack.cli import protocol as protocol_cmd
    except ImportError:
        err.write(f"{PROG} protocol: not available in this build\n")
        return EXIT_USAGE
    return int(protocol_cmd.main(argv) or 0)


#: The libraries whose own log lines (keystoneauth's "Failed to discover available identity
#: versions ...", urllib3's retries) a command shows only with -v: the command says what failed.
LIBRARY_LOGGERS = ("keystoneauth", "keystoneauth1", "openstack", "urllib3", "stevedore", "requests")


@contextlib.contextmanager
def quiet_libraries(verbose: bool) -> Iterator[None]:
    """Without ``verbose``, the libraries' log records are dropped while a command runs (Python would
    print their warnings as bare lines on stderr); the levels are restored afterwards."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Command name -> its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run a command for people; returns the exit status (see :data:`EXIT_CODES`)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    argv = list(argv)
    if argv and argv[0] == "protocol":  # its arguments are its own, --help included
        return run_protocol(argv[1:], err)
    parser = build_parser()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err  # argparse writes help and usage errors to sys.*
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): nothing was done
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else EXIT_USAGE
    finally:
        sys.stdout, sys.stderr = saved
    if args.version:
        return _version(args, out, err)
    if not args.command:
        out.write(parser.format_help())
        return EXIT_OK
    try:
        with quiet_libraries(bool(getattr(args, "verbose", False))):
            code: int = args.func(args, out, err)
        return code
    except KeyboardInterrupt:
        err.write(f"{PROG} {args.command}: interrupted\n")
        return 130


# --------------------------------------------------------------------------
# The commands for people that read a group: status, reap, plugins
# --------------------------------------------------------------------------

PEOPLE_HELP = {
    "status": "every server of the group and the state the plugin reports (read-only)",
    "reap": "what the group leaked; deleted only with --yes",
    "plugins": "installed boot strategies and site plugins, with their hooks",
}
PEOPLE_DESCRIPTIONS = {
    "status": "Every server of the group: Nova status, the state the plugin reports to the runner, "
    "age, addresses, image, flavor, readiness and fault. Read-only.",
    "reap": "Find what the group leaked (unusable servers, ports, floating IPs, keypairs, volumes); "
    "delete it only with --yes.",
    "plugins": "Installed boot strategies and site plugins, their versions and hooks; with PATH, the "
    "strategy that config selects is marked.",
}


def add_people_arguments(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The arguments of ``command`` (a subparser of :func:`build_parser`)."""
    add_path(parser, optional=command == "plugins")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    if command == "reap":
        parser.add_argument("--yes", action="store_true", help="really delete what was found")
    if command != "plugins":
        parser.add_argument("-v", "--verbose", action="store_true", help="log lines of the plugin and SDK")
    return parser


def _people_command(command: str) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    """The function of ``command``, each in its module of :mod:`fleeting_openstack.cli` (imported when run)."""
    if command == "status":
        from fleeting_openstack.cli.status import cmd_status

        return cmd_status
    if command == "reap":
        from fleeting_openstack.cli.reap import cmd_reap

        return cmd_reap
    from fleeting_openstack.cli.plugins import cmd_plugins

    return cmd_plugins


def run_people(command: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``command`` (status, reap, plugins) for parsed ``args``: logs on ``err``, a failure as one line
    (and one JSON document with ``--json``); returns the exit status."""
    from fleeting_openstack.cli.common import CommandError

    try:
        with _quiet_logs(getattr(args, "verbose", False), err):
            code = _people_command(command)(args, out, err)
            return code
    except CommandError as exc:
        err.write(f"{PROG} {command}: {exc}\n")
        _json_failure(args, out, str(exc), exc.code)
        return exc.code
    except Exception as exc:
        if getattr(args, "verbose", False):
            raise
        err.write(f"{PROG} {command}: {type(exc).__name__}: {exc}\n")
        _json_failure(args, out, f"{type(exc).__name__}: {exc}", EXIT_PROBLEMS)
        return EXIT_PROBLEMS


def _json_failure(args: argparse.Namespace, out: TextIO, error: str, code: int) -> None:
    """With ``--json``, stdout is always one JSON document: on failure ``{"error", "exit_status"}``."""
    if getattr(args, "json", False):
        doc = {"path": getattr(args, "path", None), "error": error, "exit_status": code}
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


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
