"""Configuration problems: the issue type, the error, the collector, and JSON paths.

Every check of the configuration (normalisation, JSON Schema, Nova's rules,
``validate``, ``validate --check-cloud``) reports a :class:`ConfigIssue` with
the JSON path of the spot it is about (``server_spec.networks[0].uuid``), so a
user sees *where* as well as *what*. The checks of one document report into one
:class:`IssueCollector`, which also lets a later check stay quiet where an
earlier one already complained.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue", "IssueCollector", "format_path", "join_path", "natural_key"]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration.

    ``path`` is a JSON path relative to plugin_config, e.g.
    ``server_spec.networks[0].uuid`` ("" for the document itself);
    ``severity`` is ``"error"`` or ``"warning"``.
    """

    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def with_prefix(self, prefix: str) -> ConfigIssue:
        """The same issue with ``prefix`` (e.g. ``runners[0].autoscaler.plugin_config``) prepended."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return ConfigIssue(path, self.message, self.severity)

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "severity": self.severity}


class ConfigError(ValueError):
    """The configuration is invalid.

    ``errors``: every error found (list of :class:`ConfigIssue`);
    ``warnings``: the warnings found along the way.  ``str()`` is one line
    per error, ``path: message``.
    """

    def __init__(self, errors: Iterable[ConfigIssue], warnings: Iterable[ConfigIssue] = ()) -> None:
        self.errors: list[ConfigIssue] = list(errors)
        self.warnings: list[ConfigIssue] = list(warnings)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_:-]*$")


def join_path(base: str, key: str | int) -> str:
    """``join_path("server_spec", "networks") == "server_spec.networks"``;
    integers become ``[i]``; keys that are not identifier-like become ``["key"]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    key = str(key)
    if not _IDENT_RE.match(key):
        return f"{base}[{json.dumps(key, ensure_ascii=False)}]"
    return f"{base}.{key}" if base else key


def format_path(parts: Iterable[str | int], base: str = "") -> str:
    """The JSON path of ``parts`` (keys and list indexes) below ``base``."""
    path = base
    for part in parts:
        path = join_path(path, part)
    return path


def natural_key(issue: ConfigIssue) -> list[int | str]:
    """Sort key of an issue by its path, numbers as numbers (``networks[2]`` before ``networks[10]``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", issue.path)]


# --------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------


class IssueCollector:
    """The errors and warnings found in one document, by every check in turn.

    The JSON Schema's errors are recorded with :meth:`schema_error`; a later
    semantic check reports with :meth:`check`, which stays quiet where the
    schema already complained about the spot or one of its ancestors (a value
    of the wrong type needs no second message). :meth:`finish` returns the
    errors (deduplicated, in path order) and the warnings (deduplicated, in the
    order found).
    """

    def __init__(self) -> None:
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        self._schema_paths: set[str] = set()

    def error(self, path: str, message: str) -> None:
        """An error, reported whatever else was found."""
        self.errors.append(ConfigIssue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ConfigIssue(path, message, "warning"))

    def schema_error(self, issue: ConfigIssue) -> None:
        """An error of the JSON Schema: later :meth:`check` calls at or below its path are dropped."""
        self.errors.append(issue)
        self._schema_paths.add(issue.path)

    def blocked(self, path: str) -> bool:
        """A schema error at ``path`` or at one of its ancestors."""
        for p in self._schema_paths:
            if p == path or (path.startswith(p) and path[len(p) : len(p) + 1] in (".", "[")):
                return True
        return False

    def check(self, path: str, message: str) -> None:
        """A semantic error, unless the schema already reported this spot."""
        if not self.blocked(path):
            self.error(path, message)

    def finish(self) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
        """``(errors, warnings)``: each without duplicates; the errors sorted by path."""

        def dedupe(items: list[ConfigIssue]) -> list[ConfigIssue]:
            seen: set[tuple[str, str]] = set()
            out = []
            for item in items:
                if (item.path, item.message) not in seen:
                    seen.add((item.path, item.message))
                    out.append(item)
            return out

        return (sorted(dedupe(self.errors), key=natural_key), dedupe(self.warnings))
