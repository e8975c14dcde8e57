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
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn, TextIO

PROG = "fleeting-plugin-openstack"
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

EXIT_CODES = {
    EXIT_OK: "the command did its job and found nothing wrong",
    EXIT_PROBLEMS: "problems found: invalid config, a failed cloud or Init check, the cloud refused, a delete failed",
    EXIT_USAGE: "usage error or cannot run: bad arguments, unreadable file, no such runner",
}

EPILOG = (
    "exit status (every command):\n"
    + "".join(f"  {code}  {text}\n" for code, text in EXIT_CODES.items())
    + f"PATH is a plugin_config JSON file or a runner config.toml; `{PROG} COMMAND --help` for details.\n"
    "Started by gitlab-runner (fleeting's magic cookie FLEETING_INSTANCE_GROUP_PLUGIN in the environment,\n"
    "no arguments) it serves the plugin."
)

PATH_HELP = "plugin_config JSON file, or gitlab-runner config.toml"
RUNNER_HELP = "the [[runners]] entry of config.toml to use (its name, or its index from 0)"


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; the exit-status epilog kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """Usage errors print the usage and the error, and exit 2 (argparse's own code)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_path(parser: argparse.ArgumentParser, *, optional: bool = False, runner: bool = True) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?" if optional else None, help=PATH_HELP)
    if runner:
        parser.add_argument("--runner", metavar="NAME", help=RUNNER_HELP)


def _version(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli.main import version_text

    out.write(version_text())
    return EXIT_OK


def _bootstrap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import bootstrap

    return bootstrap.run(args.repository, out, err)


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli import validate

    return validate.run(args, stdout=out, stderr=err)


def _people(command: str) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        from fleeting_openstack.cli import common as commands

        return commands.run(command, args, out, err)

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
    parser = _Parser(
        prog=PROG,
        epilog=EPILOG,
        formatter_class=_Formatter,
        description="GitLab fleeting plugin for OpenStack. gitlab-runner starts it as a plugin; "
        "people use the commands below.",
    )
    parser.add_argument("--version", "-version", action="store_true", help="print version information")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_: str, func: Callable[..., int], description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_, description=description or help_, epilog=EPILOG, formatter_class=_Formatter
        )
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

    from fleeting_openstack.cli import common as commands

    for name, help_ in commands.HELP.items():
        p = add(name, help_, _people(name), commands.DESCRIPTIONS[name])
        commands.add_arguments(p, name)

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
