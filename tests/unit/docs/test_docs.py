"""The docs stay true to the code.

* Every warning or error the plugin logs (``log.warning/error/exception/critical``
  in ``fleeting_openstack/*.py``) is explained in ``docs/troubleshooting.md``,
  written with ``<placeholders>`` where the code formats a value in; and every
  message listed there under "Log messages" is still logged somewhere.
* The migration guide covers every key of the original plugin and every
  deprecated spelling the config loader accepts.
* ``docs/README.md`` indexes every page of ``docs/``; relative links resolve;
  the README keeps its two set-up commands.
"""

from __future__ import annotations

import ast
import re

import pytest
from project import ROOT

PACKAGE = ROOT / "fleeting_openstack"
DOCS = ROOT / "docs"
TROUBLESHOOTING = DOCS / "troubleshooting.md"

LEVEL_METHODS = {"warning", "warn", "error", "exception", "critical"}
ALL_METHODS = LEVEL_METHODS | {"info", "debug"}
# printf-style conversions as logging applies them: %s, %r, %d, %(name)s, %5.1f ...
PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[sdrifgxXeEcoa%]")
PLACEHOLDER = r"<[^<>\n]+>"


def _is_logger(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.lower().endswith(("log", "logger"))


def _parts(node: ast.expr) -> list[str | None] | None:
    """The message as literal fragments (str) and formatted-in values (None)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        out: list[str | None] = []
        pos = 0
        for m in PRINTF.finditer(node.value):
            out.append(node.value[pos:m.start()])
            out.append("%" if m.group() == "%%" else None)
            pos = m.end()
        out.append(node.value[pos:])
        return out
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else None for v in node.values]
    return None


def _pattern(parts: list[str | None]) -> re.Pattern[str]:
    return re.compile("".join(PLACEHOLDER if p is None else re.escape(p) for p in parts))


def _shown(parts: list[str | None]) -> str:
    return "".join("<...>" if p is None else p for p in parts)


def logged_messages(levels: set[str] = LEVEL_METHODS) -> list[tuple[str, list[str | None] | None]]:
    """(file:line, message parts) of every log call at ``levels`` in the package."""
    found = []
    for path in sorted(p for p in PACKAGE.rglob("*.py") if "proto" not in p.relative_to(PACKAGE).parts[:-1]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and _is_logger(node.func.value) and node.args):
                continue
            method, args = node.func.attr, node.args
            if method == "log":  # log.log(logging.WARNING, "...")
                level = args[0]
                name = level.attr if isinstance(level, ast.Attribute) else ""
                if name.lower() not in levels or len(args) < 2:
                    continue
                method, args = name.lower(), args[1:]
            if method in levels:
                found.append((f"{path.name}:{node.lineno}", _parts(args[0])))
    return found


def test_the_scan_finds_the_plugins_messages():
    shown = {_shown(parts) for _, parts in logged_messages() if parts}
    assert "deleting unusable server: <...>" in shown
    assert "plugin_config: <...>" in shown
    assert len(shown) >= 15


def test_every_warning_and_error_is_in_troubleshooting():
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    missing, dynamic = [], []
    for where, parts in logged_messages():
        if parts is None:
            dynamic.append(where)
        elif not _pattern(parts).search(text):
            missing.append(f"{where}: {_shown(parts)}")
    assert not dynamic, f"log messages must be literal strings (values go in %s/extra): {dynamic}"
    assert not missing, ("docs/troubleshooting.md does not explain these log messages (write each one, "
                         "with <placeholders> for formatted values):\n  " + "\n  ".join(missing))


def test_troubleshooting_lists_no_message_the_code_no_longer_logs():
    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    section = text.split("\n## Log messages", 1)[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### `(.+)`\s*$", section, flags=re.M)
    assert headings, "no '### `message`' headings under '## Log messages'"
    known = [_pattern(parts) for _, parts in logged_messages(ALL_METHODS) if parts]
    stale = [h for h in headings if not any(p.fullmatch(h) for p in known)]
    assert not stale, f"docs/troubleshooting.md explains messages nothing logs any more: {stale}"


def test_migration_covers_every_original_key_and_deprecated_spelling():
    from fleeting_openstack.config import DEPRECATIONS

    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    original = ["cloud", "clouds_config", "auth_from_env", "name", "nova_microversion", "boot_time",
                "use_ignition", "server_spec", "fixedip", "image_name", "key_name", "user_data",
                "scheduler_hints", "username", "use_static_credentials", "key_path"]
    keys = original + [d.key for d in DEPRECATIONS] + [d.replacement for d in DEPRECATIONS
                                                        if not d.replacement.startswith("<")]
    missing = sorted({k for k in keys if f"`{k}`" not in text})
    assert not missing, f"docs/migration.md never mentions: {missing}"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OWN_PAGES = ["README.md", "docs/README.md", "docs/quickstart.md", "docs/migration.md",
             "docs/troubleshooting.md"]


@pytest.mark.parametrize("page", OWN_PAGES)
def test_relative_links_resolve(page):
    path = ROOT / page
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#", 1)[0]
        if not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{page}: links to missing files: {broken}"


def test_docs_index_links_every_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = {t.split("#", 1)[0] for t in LINK.findall(index)}
    missing = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in linked)
    assert not missing, f"docs/README.md does not link: {missing}"


def test_readme_keeps_the_two_set_up_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in setup.splitlines() if line.startswith("    ")]
    assert len(commands) == 2 and commands[1] == "scripts/test"
    # the first one installs into a virtualenv (Debian 12's Python refuses a plain pip install) and
    # validates the example; tests/packaging/test_readme_first_command.py runs it on a fresh Debian 12
    assert "python3 -m venv .venv" in commands[0] and "pip install ." in commands[0]
    assert commands[0].endswith("fleeting-plugin-openstack validate examples/config.toml")
    links = {t for t in LINK.findall(readme)}
    for page in ("docs/README.md", "docs/quickstart.md", "docs/migration.md", "docs/troubleshooting.md",
                 "docs/strategies.md", "docs/configuration.md"):
        assert page in links, f"README.md does not link {page}"
