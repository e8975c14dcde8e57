"""Docs that cannot lie.

* Every error or warning message quoted in the docs matches a message the code can produce:
  the code's message templates (every string literal and f-string of the package and the
  built-in strategies, formatted-in values as wildcards) are the one table; a quoted message
  (``<placeholders>`` and ``...`` as wildcards, a trailing ``...`` for "and the rest") must
  match one, and text a template formats in must itself be a message of the code when it reads
  like one. Quoted: the first column of troubleshooting.md's "Errors the runner reports"
  tables, every ``error:``/``warning:`` line in the docs' code blocks, and every inline
  ``path: message`` the way validate and Init print them.
* The state-directory messages are also asserted by running the case they describe.
* Every command and flag the docs name exists in the parser.
"""

from __future__ import annotations

import ast
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest

from fleeting_openstack.cli import parser as cmdline

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
# every module of the package's layers and of the built-in strategies; not the generated protobuf code
SOURCES = sorted(p for p in (ROOT / "fleeting_openstack").rglob("*.py") if "proto" not in p.parent.parts[-1:]) \
    + sorted((ROOT / "strategies").rglob("*.py"))
PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[sdrifgxXeEcoa]")
PLACEHOLDER = re.compile(r"<[^<>\n]+>|\.\.\.")
WILD = "\x00"
COMMANDS = ("openstack ", "sudo ", "chmod ", "chown ", "pipx ", "systemctl ", "journalctl ", "gitlab-runner ",
            "fleeting-plugin-openstack ", "cloud-init ", "ssh ")


def _parts(node: ast.expr) -> list[str | None] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        out: list[str | None] = []
        pos = 0
        for m in PRINTF.finditer(node.value):
            out += [node.value[pos:m.start()], None]
            pos = m.end()
        return out + [node.value[pos:]]
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
    return None


@lru_cache(maxsize=None)
def templates() -> list[re.Pattern[str]]:
    """Every message template of the code, as a regex (formatted-in values: captured groups)."""
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in inner:
                continue
            parts = _parts(node) if isinstance(node, (ast.Constant, ast.JoinedStr)) else None
            if parts and sum(len(p) for p in parts if p) >= 6:
                found.add(tuple(parts))
    return [re.compile("".join("(.+?)" if p is None else re.escape(p) for p in parts), re.S)
            for parts in sorted(found, key=lambda t: -sum(len(p) for p in t if p))]


CONFIG_PATH = re.compile(
    r"^(?:runners\[\d+\]\.autoscaler\.plugin_config\.)?((?:server_spec|credentials|readiness|address|metrics"
    r"|strategy_options|connector_config)(?:\.[A-Za-z_]+|\[\d+\])*|cloud|clouds_config|name|boot_time|strategy"
    r"|user_data_file|nova_microversion): (.+)$")


def _sentence(text: str) -> bool:
    return text.count(" ") >= 3 and WILD not in text


def explained(message: str, depth: int = 0) -> bool:
    """``message`` (WILD where the docs have a placeholder) is, or begins, something the code says."""
    text = message.rstrip(WILD).rstrip()
    if not text:
        return False
    if message.startswith(WILD + ": ") and explained(message[3:], depth + 1):
        return True  # "<RPC>: <message>": the service names the call in front of the message
    candidates = [p.fullmatch(message) for p in templates()]
    candidates += [p.fullmatch(text) for pattern in templates() for p in _prefixes(pattern.pattern)]
    for m in candidates:
        if m is None:
            continue
        if depth < 3 and any(_sentence(g) and not explained(g, depth + 1) for g in m.groups() if g):
            continue  # the template formats in a sentence the code never says
        return True
    return False


@lru_cache(maxsize=None)
def _prefixes(source: str) -> tuple[re.Pattern[str], ...]:
    """The template cut after each of its literal words: a quote may stop anywhere."""
    out = []
    for cut in range(len(source), 0, -1):
        if source[cut - 1] in " ;:,(" and source[cut - 2:cut] != "\\(":
            head = source[:cut].rstrip("\\ ")
            if len(re.sub(r"\(\.\+\?\)|\\", "", head)) < 10:
                break  # too little of the template left to say anything
            try:
                out.append(re.compile(head, re.S))
            except re.error:
                continue
    return tuple(out)


def _quote(text: str) -> str:
    return PLACEHOLDER.sub(WILD, text.strip())


def quoted_messages() -> list[tuple[str, str]]:
    """(where, message) for every message the docs quote."""
    out = []
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    runner_errors = text.split("\n## Errors the runner reports", 1)[1].split("\n## Symptoms", 1)[0]
    for line in runner_errors.splitlines():
        m = re.match(r"^\| `([^`]+)`", line)
        if m and not m.group(1).startswith(("message", "reason")):
            out.append(("troubleshooting.md", m.group(1)))
        elif not line.startswith("|"):  # prose: quoted messages of three words or more
            out += [("troubleshooting.md", q) for q in re.findall(r"`([^`]+)`", line)
                    if q.count(" ") >= 2 and not q.startswith(COMMANDS)]
    for page in PAGES:
        in_block = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            spans = [line] if in_block else re.findall(r"`([^`]+)`", line)
            for span in spans:
                m = re.search(r"(?:^|: )(?:error|warning): (.+)$", span)
                if m:
                    out.append((page.name, m.group(1)))
                elif not in_block:
                    m = CONFIG_PATH.match(span)
                    if m and m.group(2).count(" ") >= 2:  # "path: message", as validate and Init print them
                        out.append((page.name, span))
    return out


def test_the_scan_finds_quotes_and_templates():
    quotes = quoted_messages()
    assert len(quotes) >= 20 and len(templates()) >= 200
    assert explained(_quote("nova_microversion 2.99 is not offered by this cloud's compute API "
                            "(it supports 2.1 to 2.96)"))
    assert not explained(_quote("nova_microversion 2.99 is not supported"))  # the matcher can say no


@pytest.mark.parametrize("where,message", quoted_messages(), ids=lambda v: v[:60])
def test_every_quoted_message_is_one_the_code_produces(where, message):
    path = CONFIG_PATH.match(message)
    ok = explained(_quote(message)) or (path is not None and explained(_quote(path.group(2))))
    assert ok, f"{where}: no message of the code reads {message!r}"


# -- the state directory, by running the cases the docs describe ----------------------------------

def _doc_row(fragment: str) -> str:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return next(m.group(1) for m in re.finditer(r"^\| `([^`]+)`", text, flags=re.M) if fragment in m.group(1))


def _matches(doc: str, actual: str) -> bool:
    body = doc.split("credentials.state_dir: ", 1)[1]
    regex = "".join(".+?" if PLACEHOLDER.fullmatch(p) else re.escape(p) for p in re.split(f"({PLACEHOLDER.pattern})", body))
    return re.match(regex, actual) is not None


def test_state_dir_messages_are_what_the_key_store_says(tmp_path):
    from fleeting_openstack.provider.keys import KeyStore, KeyStoreError

    loose = tmp_path / "loose"
    loose.mkdir()
    mode = re.search(r"mode (0[0-7]{3})", _doc_row("lets group/others write here")).group(1)
    loose.chmod(int(mode, 8))
    with pytest.raises(KeyStoreError) as exc:
        KeyStore(loose)
    assert _matches(_doc_row("lets group/others write here"), str(exc.value)), str(exc.value)

    state = tmp_path / "state"
    KeyStore(state)
    (state / "master.key").chmod(0o644)
    with pytest.raises(KeyStoreError) as exc:
        KeyStore(state)
    assert _matches(_doc_row("access a secret"), str(exc.value)), str(exc.value)

    if os.geteuid() == 0:  # only root can hand the file to someone else
        (state / "master.key").chmod(0o600)
        os.chown(state / "master.key", 65534, 65534)
        with pytest.raises(KeyStoreError) as exc:
            KeyStore(state)
        assert _matches(_doc_row("owned by uid"), str(exc.value)), str(exc.value)


# -- commands and flags -----------------------------------------------------------------------------

PROG = "fleeting-plugin-openstack"
INVOCATION = re.compile(rf"{PROG}((?: +(?:[\w./<>\[\]=:{{}}$-]+|\"[^\"]*\"))*)")


def named_invocations() -> list[tuple[str, str, list[str]]]:
    """(page, command, flags) for every ``fleeting-plugin-openstack COMMAND ...`` in code."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        code = re.findall(r"```.*?```", text, flags=re.S) + re.findall(r"`[^`\n]+`", text)
        for chunk in code:
            for m in INVOCATION.finditer(chunk):
                before = chunk[:m.start()].rsplit("\n", 1)[-1].lstrip("`")
                if not re.fullmatch(r"\s*(\$ |# )?\s*(sudo( -u \S+)? )?|.*(&&|\|) ", before):
                    continue  # an argument of another program (pipx inject fleeting-plugin-openstack ...)
                words = m.group(1).split()
                if not words or words[0].startswith(("<", "[", "COMMAND")):
                    continue
                command = words[0]
                flags = [w.split("=")[0].strip("[]") for w in words[1:] if w.lstrip("[").startswith("-")]
                out.append((page.name, command, flags))
    return out


def test_the_docs_name_commands():
    assert len(named_invocations()) >= 20


def test_every_command_and_flag_named_in_the_docs_exists():
    parser = cmdline.build_parser()
    subs = cmdline.subcommands(parser)
    top = {o for a in parser._actions for o in a.option_strings}
    wrong = []
    for page, command, flags in named_invocations():
        if command.startswith("-"):
            if command not in top:
                wrong.append(f"{page}: {PROG} {command}")
            continue
        if command not in subs:
            wrong.append(f"{page}: {PROG} {command}")
            continue
        known = {o for a in subs[command]._actions for o in a.option_strings}
        wrong += [f"{page}: {PROG} {command} {flag}" for flag in flags if flag not in known and command != "protocol"]
    assert not wrong, "the docs name what the parser does not have:\n  " + "\n  ".join(wrong)
