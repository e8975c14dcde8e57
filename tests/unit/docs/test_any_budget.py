"""``Any`` is rare and says why (issue 18 item 5).

In transport/, contract/, config/ and cli/ together at most 3 annotations use ``typing.Any``, each
with a ``#`` comment on its line or the line above saying why (JSON values have a named type:
``fleeting_openstack.jsontypes``). Counted from the tokens, so docstrings and comments that
mention the word do not count.
"""

from __future__ import annotations

import io
import tokenize

from project import ROOT

PACKAGES = ("transport", "contract", "config", "cli")
BUDGET = 3
#: Modules another change of issue 18 rewrites (the read-only observer of status and reap): their
#: ``Any`` is that change's to remove; the coordinator empties this after merging it.
ELSEWHERE = ("fleeting_openstack/cli/status.py", "fleeting_openstack/cli/reap.py")


def any_uses(text: str) -> list[int]:
    """Line numbers where the name ``Any`` is used outside an import statement."""
    lines: list[int] = []
    in_import = False
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in ("import", "from") and tok.start[1] == 0:
            in_import = True
        elif tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            in_import = False
        elif tok.type == tokenize.NAME and tok.string == "Any" and not in_import:
            lines.append(tok.start[0])
    return lines


def without_reason(text: str, line: int) -> bool:
    source = text.splitlines()
    here, above = source[line - 1], source[line - 2].strip() if line > 1 else ""
    return "#" not in here and not above.startswith("#")


def uses() -> dict[str, list[int]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / "fleeting_openstack" / package).rglob("*.py")):
            lines = any_uses(path.read_text(encoding="utf-8"))
            if lines and str(path.relative_to(ROOT)) not in ELSEWHERE:
                found[str(path.relative_to(ROOT))] = lines
    return found


def test_at_most_three_any_in_transport_contract_config_and_cli():
    count = sum(len(lines) for lines in uses().values())
    assert count <= BUDGET, uses()


def test_every_any_says_why():
    missing = [
        f"{path}:{line}"
        for path, lines in uses().items()
        for line in lines
        if without_reason((ROOT / path).read_text(encoding="utf-8"), line)
    ]
    assert missing == []


def test_the_count_sees_annotations_not_words():
    text = '"""Any provider."""\nfrom typing import Any\n# Any: why\nx: dict[str, Any] = {}\ndef f(a: Any) -> None: ...\n'
    assert any_uses(text) == [4, 5]
    assert not without_reason(text, 4) and without_reason(text, 5)
