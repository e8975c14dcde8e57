"""What every command's argparse shares: the program name, the exit codes and epilog, the help formatter, PATH.

A shared piece of the CLI: it imports no command (``parser`` and the commands import it).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

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


class Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; the exit-status epilog kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit status"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """Usage errors print the usage and the error, and exit 2 (argparse's own code)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_path(parser: argparse.ArgumentParser, *, optional: bool = False, runner: bool = True) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?" if optional else None, help=PATH_HELP)
    if runner:
        parser.add_argument("--runner", metavar="NAME", help=RUNNER_HELP)
