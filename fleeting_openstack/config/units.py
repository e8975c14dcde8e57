"""Nova microversions in a configuration (Go durations: the leaf :mod:`fleeting_openstack.godurations`).

Nova microversions (``"2.79"``) are compared as ``(major, minor)`` tuples:
:func:`microversion_tuple` (the leaf :mod:`fleeting_openstack.microversion`, which
the adapter uses too) is the one parser, :func:`parse_microversion` the strict
form a configuration must have.
"""

from __future__ import annotations

import re

from fleeting_openstack.microversion import microversion_tuple  # the one parser (a leaf: the adapter uses it too)

__all__ = ["microversion_tuple", "parse_microversion"]

_MICROVERSION_RE = re.compile(r"^2\.([0-9]+)$")


def parse_microversion(text: str) -> tuple[int, int]:
    """``"2.79"`` -> ``(2, 79)``.  Raises ValueError unless it is ``2.N`` with N >= 1."""
    m = _MICROVERSION_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f'{text!r} is not a Nova microversion such as "2.79"')
    version = microversion_tuple(text)
    if version[1] < 1:
        raise ValueError("2.0 is the legacy Nova API without microversions; use 2.1 or later")
    return version
