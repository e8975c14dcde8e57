"""Nova microversions, parsed in one place (Go durations: the leaf :mod:`fleeting_openstack.godurations`).

Nova microversions (``"2.79"``) are compared as ``(major, minor)``
tuples: :func:`microversion_tuple` is the one parser (the cloud's advertised
range uses it too), :func:`parse_microversion` the strict form a
configuration must have.
"""

from __future__ import annotations

import re

__all__ = ["microversion_tuple", "parse_microversion"]


def microversion_tuple(text: str) -> tuple[int, int]:
    """``"2.79"`` -> ``(2, 79)``: any ``MAJOR.MINOR`` (as a cloud advertises its range).

    Raises ValueError when ``text`` is not two integers separated by a dot.
    """
    major, minor = text.split(".")
    return int(major), int(minor)


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
