"""Shell completion for bash and zsh, generated from the argparse tree.

``fleeting-plugin-openstack completion bash`` prints a script that completes
the commands, each command's flags, the choices of a flag or argument, and
file names where a command takes PATH. It is generated from
:func:`fleeting_openstack.cli.parser.build_parser` each time, so it cannot miss
a command or flag. zsh uses the same function through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
import re
from typing import TypedDict

PROG = "fleeting-plugin-openstack"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class CommandSpec(TypedDict):
    """What completion needs to know of one command."""

    flags: list[str]
    valued: list[str]
    choices: list[str]
    files: bool


def spec(parser: argparse.ArgumentParser) -> dict[str, CommandSpec]:
    """Per command: its flags, flags that take a value, and positional choices/file names."""
    out: dict[str, CommandSpec] = {}
    for name, sub in _subparsers(parser).items():
        flags: list[str] = []
        valued: list[str] = []
        choices: list[str] = []
        files = False
        for action in sub._actions:
            if action.option_strings:
                flags += action.option_strings
                if action.nargs != 0:
                    valued += action.option_strings
            elif action.choices:
                choices += [str(c) for c in action.choices]
            elif action.metavar == "PATH":
                files = True
        out[name] = {"flags": flags, "valued": valued, "choices": choices, "files": files}
    return out


def _words(items: list[str]) -> str:
    return " ".join(items)


def bash(parser: argparse.ArgumentParser) -> str:
    commands = spec(parser)
    top_flags = [o for a in parser._actions for o in a.option_strings]
    function = "_" + re.sub(r"[^A-Za-z0-9]", "_", PROG)
    cases = []
    for name, info in commands.items():
        cases.append(
            f'    {name}) flags="{_words(info["flags"])}"; valued="{_words(info["valued"])}"; '
            f'choices="{_words(info["choices"])}"; files={1 if info["files"] else 0};;'
        )
    return f"""# bash completion for {PROG}, generated from its argument parser
# (`{PROG} completion bash`); install: {PROG} completion bash > /etc/bash_completion.d/{PROG}
{function}() {{
  local cur prev cmd flags valued choices files i
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${{COMP_WORDS[i]}}" in -*) ;; *) cmd="${{COMP_WORDS[i]}}"; break;; esac
  done
  if [ -z "$cmd" ]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=($(compgen -W "{_words(top_flags)}" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "{_words(list(commands))}" -- "$cur"))
    fi
    return 0
  fi
  flags=""; valued=""; choices=""; files=0
  case "$cmd" in
{chr(10).join(cases)}
  esac
  if [[ " $valued " == *" $prev "* ]]; then
    COMPREPLY=()
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ -n "$choices" ]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
  elif [ "$files" = 1 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=()
  fi
  return 0
}}
complete -o filenames -F {function} {PROG}
"""


def zsh(parser: argparse.ArgumentParser) -> str:
    return f"""#compdef {PROG}
# zsh completion for {PROG}, generated from its argument parser (`{PROG} completion zsh`);
# install: {PROG} completion zsh > "${{fpath[1]}}/_{PROG}"  (the bash function, through bashcompinit)
autoload -U +X bashcompinit && bashcompinit
""" + bash(parser).split("\n", 2)[2]


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    return {"bash": bash, "zsh": zsh}[shell](parser)
