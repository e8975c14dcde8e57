"""Per-instance values in the operator's user_data.

Syntax
------
``{{fleeting.NAME}}`` (spaces inside the braces allowed: ``{{ fleeting.NAME }}``)
is replaced by the instance's value before any strategy sees the user_data:

=====================  ==================================================
``fleeting.instance_name``  the server name being created
``fleeting.group``          the fleeting group name (``plugin_config.name``)
``fleeting.index``          the instance's index (a decimal integer)
``fleeting.cloud``          the clouds.yaml entry ("" when auth is from env)
``fleeting.region``         the region name ("" if none)
``fleeting.username``       the login user
=====================  ==================================================

Why this syntax:

* shell ``${VAR}`` / ``$VAR`` never contain ``{{``, so scripts are untouched;
* cloud-init's Jinja templates (``## template: jinja``) use ``{{ v1.* }}``,
  ``{{ ds.* }}``, ``{{ merged_cfg.* }}``: only the reserved ``fleeting.``
  namespace is ours, and cloud-init has no variable of that name, so any
  ``{{ fleeting.* }}`` in a Jinja template could only ever render empty there;
* Ignition is JSON, which has no ``{{`` syntax of its own; placeholders sit
  inside JSON strings, so the document stays valid JSON before rendering.

Values are inserted as plain text, with no quoting: every value above is a
name, a number or empty. There is no escape for a literal ``{{fleeting.x}}``;
the ``fleeting.`` namespace is reserved. (In a Jinja template,
``{{ '{{' }}fleeting.x}}`` produces the literal text and is not a placeholder.)

Filters, expressions and unknown names (``{{fleeting.instance}}``,
``{{ fleeting.index | int }}``) are configuration errors reported at Init by
:func:`find_errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.plugin.types import UserDataError

if TYPE_CHECKING:
    from fleeting_openstack.plugin.types import InstanceContext

__all__ = [
    "SAMPLE_VALUES",
    "VARIABLES",
    "TemplateError",
    "find_errors",
    "render",
    "values_for",
]

#: Names usable after ``fleeting.``.
VARIABLES: tuple[str, ...] = ("instance_name", "group", "index", "cloud", "region", "username")

#: Values used for checks at Init, when no instance exists yet.
SAMPLE_VALUES: Mapping[str, str] = {
    "instance_name": "fleeting-sample-0",
    "group": "fleeting-sample",
    "index": "0",
    "cloud": "sample-cloud",
    "region": "sample-region",
    "username": "sample-user",
}

# Anything that opens like a placeholder of ours: "{{" + optional spaces + "fleeting".
_OPENING = re.compile(r"\{\{\s*fleeting\b")
# A well-formed placeholder: a simple name, optional surrounding spaces.
_PLACEHOLDER = re.compile(r"\{\{\s*fleeting\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# For error messages: what stands between the opening and the next "}}" on the line.
_CANDIDATE = re.compile(r"\{\{\s*(fleeting\b[^\n]*?)\s*(\}\}|$)", re.MULTILINE)


class TemplateError(UserDataError):
    """user_data holds a placeholder that cannot be rendered."""


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def find_errors(text: str | None) -> list[str]:
    """Every malformed or unknown ``{{fleeting.*}}`` placeholder in ``text``."""
    if not text:
        return []
    errors: list[str] = []
    known = ", ".join(f"fleeting.{v}" for v in VARIABLES)
    for m in _CANDIDATE.finditer(text):
        line = _line_of(text, m.start())
        inner, closing = m.group(1), m.group(2)
        if not closing:
            errors.append(f"user_data line {line}: unterminated placeholder '{{{{{inner}'")
            continue
        whole = _PLACEHOLDER.fullmatch(m.group(0))
        if whole is None:
            errors.append(
                f"user_data line {line}: malformed placeholder '{m.group(0)}': "
                f"only {{{{fleeting.NAME}}}} is supported (no filters or expressions)"
            )
        elif whole.group(1) not in VARIABLES:
            errors.append(
                f"user_data line {line}: unknown template variable 'fleeting.{whole.group(1)}'; known: {known}"
            )
    return errors


def render(text: str, values: Mapping[str, object], *, strict: bool = True) -> str:
    """Replace every ``{{fleeting.NAME}}`` in ``text`` with ``values[NAME]``.

    With ``strict`` (the default) any malformed or unknown placeholder raises
    :class:`TemplateError`; without it such placeholders are left as they are.
    Text without a placeholder is returned unchanged (the same object).
    """
    if _OPENING.search(text) is None:
        return text
    if strict:
        errors = find_errors(text)
        if errors:
            raise TemplateError("; ".join(errors))

    def _sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values or name not in VARIABLES:
            return m.group(0)
        return str(values[name])

    return _PLACEHOLDER.sub(_sub, text)


def values_for(ctx: InstanceContext) -> dict[str, str]:
    """The placeholder values of one instance."""
    return {
        "instance_name": ctx.name,
        "group": ctx.group,
        "index": str(ctx.index),
        "cloud": ctx.cloud,
        "region": ctx.region,
        "username": ctx.username,
    }
