"""openstacksdk's ``find_*`` without the deprecated ``ignore_missing=True`` (issue 18 item 8).

openstacksdk 4 warns (``RemovedInSDK60Warning``) on every ``find_*`` call with
``ignore_missing=True``, which is its default, and 6.0 makes ``False`` the default.
The SDK's advice: pass ``False`` and catch ``NotFoundException`` where a missing
resource is expected. :func:`find` does that for the tests and benches that use an
admin connection directly; where the resource must exist they call
``find_x(name, ignore_missing=False)`` themselves. ``tests/unit/docs/test_sdk_calls.py``
fails on any other ``find_*`` call of the SDK in tests/ and bench/.

Images are the exception: openstacksdk's ``Image.find`` calls the base ``find`` with
``ignore_missing=True`` itself, so ``find_image`` warns whatever its caller passes;
:func:`image_named` lists Glance's images filtered by name instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from openstack.exceptions import NotFoundException

T = TypeVar("T")


def find(finder: Callable[..., T], name_or_id: str, **query: object) -> T | None:
    """``finder(name_or_id, ignore_missing=False, **query)`` (a proxy's ``find_*``), None when it is missing."""
    try:
        return finder(name_or_id, ignore_missing=False, **query)
    except NotFoundException:
        return None


def image_named(conn: Any, name: str) -> Any:
    """The image called ``name`` on ``conn`` (an openstacksdk Connection), None if there is none
    (``GET /v2/images?name=``; the first of several)."""
    return next(iter(conn.image.images(name=name)), None)
