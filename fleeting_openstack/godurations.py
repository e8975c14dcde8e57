"""Go durations (``time.ParseDuration``) in seconds: a leaf module, shared by the config and the wire contract.

gitlab-runner users write durations the Go way (``"10m"``, ``"1h30m"``), as
the original Go plugin read them; the wire model's text durations are the
same. It imports nothing of the package, so ``config/`` and ``contract/`` can
both use it without importing each other.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["GO_DURATION_MAX", "parse_duration"]

#: Go's time.Duration is an int64 of nanoseconds: ParseDuration refuses anything beyond this
#: ("2562047h47m16.854775807s", about 292 years), and so does the plugin (gitlab-runner, the
#: original plugin and Python's timeouts would all fail on it).
GO_DURATION_MAX = "2562047h47m16.854775807s"
_GO_MAX_NS = (1 << 63) - 1

_DURATION_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_NUMBER_RE = re.compile(r"([0-9]*)(\.([0-9]*))?")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``time.ParseDuration``) into seconds.

    Examples: ``"10m"`` -> 600.0, ``"1h30m"`` -> 5400.0, ``"1.5h"`` -> 5400.0,
    ``"500ms"`` -> 0.5, ``"0"`` -> 0.0, ``"-2s"`` -> -2.0.  Units: ns, us (µs, μs),
    ms, s, m, h.  Raises ValueError for anything else ("", "10", "1d", "m"), and, as Go's
    ParseDuration does, for a duration beyond an int64 of nanoseconds (:data:`GO_DURATION_MAX`).
    """
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    s = text
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = Decimal(0)
    while s:
        m = _DURATION_NUMBER_RE.match(s)
        assert m is not None  # the pattern matches the empty string
        whole, frac = m.group(1), m.group(3) or ""
        if not whole and not frac:
            raise ValueError(f"invalid duration {text!r}")
        s = s[m.end() :]
        i = 0
        while i < len(s) and s[i] != "." and not s[i].isdigit():
            i += 1
        unit, s = s[:i], s[i:]
        if not unit:
            raise ValueError(f"missing unit in duration {text!r} (use ns, us, ms, s, m or h)")
        if unit not in _DURATION_UNITS_NS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r} (use ns, us, ms, s, m or h)")
        try:
            number = Decimal(f"{whole or '0'}.{frac or '0'}")
        except InvalidOperation as exc:  # pragma: no cover - guarded by the regex
            raise ValueError(f"invalid duration {text!r}") from exc
        total += number * _DURATION_UNITS_NS[unit]
        if total > _GO_MAX_NS + (1 if negative else 0):
            raise ValueError(f"duration {text!r} is out of Go's range: at most {GO_DURATION_MAX} (about 292 years)")
    seconds = float(total / Decimal(1_000_000_000))
    return -seconds if negative else seconds
