"""Nova microversions as ``(major, minor)`` tuples: a leaf module (it imports nothing of the package).

The configuration checks the configured microversion with it and the
OpenStack adapter compares it with the range the cloud advertises: two
layers, one parser, so it lives below both.
"""

from __future__ import annotations

__all__ = ["microversion_tuple"]


def microversion_tuple(text: str) -> tuple[int, int]:
    """``"2.79"`` -> ``(2, 79)``: any ``MAJOR.MINOR`` (as a cloud advertises its range).

    Raises ValueError when ``text`` is not two integers separated by a dot.
    """
    major, minor = text.split(".")
    return int(major), int(minor)
