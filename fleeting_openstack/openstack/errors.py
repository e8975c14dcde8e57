"""What a failed cloud call raises, and what may go into a request URL.

Shared by every part of the adapter (:mod:`.session`, :mod:`.client`,
:mod:`.nova`, :mod:`.neutron`, :mod:`.cinder`): one error type carrying the
cloud's own words and the HTTP status (which :mod:`.retry` reads to decide
whether a call may be repeated), and the checks that keep ids and names from
smuggling a path into a URL.
"""

from __future__ import annotations

import re

from fleeting_openstack.openstack.sdk import Response

#: What may appear in an id the plugin puts into a URL path (uuids, flavor ids, names of tags).
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:~-]{0,254}")


class CloudError(Exception):
    """A request to the cloud failed; the message carries Nova's own words.

    ``key``: the plugin_config key the problem is about (``cloud``, or
    ``clouds_config`` when that file is missing or unreadable)."""

    def __init__(self, message: str, status: int | None = None, key: str = "cloud") -> None:
        super().__init__(message)
        self.status = status  # None: no answer at all (refused, reset, timeout)
        self.key = key
        self.retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After
        #: Authentication failed for a reason that may pass (unreachable, 5xx): connect tries again.
        self.transient = False

    @property
    def outcome_unknown(self) -> bool:
        """The cloud may or may not have done it: no answer, or a 5xx."""
        return self.status is None or self.status >= 500


class NotFound(CloudError):
    pass


class InvalidId(ValueError):
    """An id that must not go into a URL (``../flavors/1``); nothing was sent."""


def checked_id(value: str, what: str = "id") -> str:
    """``value`` if it can go into a URL path as is; ValueError naming it otherwise."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value) or ".." in value:
        raise InvalidId(
            f"{what} {value!r} is not a valid OpenStack id (letters, digits, '-', '_', '.', ':' "
            f"only): refusing to put it into a request URL"
        )
    return value


def lookup_safe(ref: str) -> bool:
    """A name or id openstacksdk may put into a URL path (find_* tries GET /<ref> first)."""
    return bool(ref) and ".." not in ref and not any(c in ref for c in "/\\?#%") and ref.isprintable()


def error_text(response: Response) -> str:
    """The message of an OpenStack error answer (``{"itemNotFound": {"message": ...}}``), else its text."""
    try:
        doc = response.json()
    except ValueError:
        return (response.text or "").strip()[:500]
    if isinstance(doc, dict) and len(doc) == 1:
        inner = next(iter(doc.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    return str(doc)[:500]
