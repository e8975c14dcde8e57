"""What the adapter tells its caller about the calls it makes, through seams the caller hands in.

* :class:`Recorder`: every HTTP request of the connection (service, method,
  status, seconds), answered or not. The provider's metrics module satisfies
  it structurally and is handed to :meth:`~.client.Cloud.connect`; the
  default :data:`NO_RECORDER` records nothing. :func:`instrument` wraps the
  connection's HTTP session so that no request escapes it.
* :class:`NovaCall` / ``NovaObserver``: each answered Nova call with its
  decoded answer, for whoever watches the adapter's Nova traffic (tests
  counting requests, a tool): :meth:`~.session.Session.observe_nova`.

A leaf of the adapter: it imports nothing of the package but the JSON types.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from fleeting_openstack.jsontypes import JSONValue

__all__ = ["NO_RECORDER", "NovaCall", "NovaObserver", "Recorder", "ServiceMap", "instrument"]


class Recorder(Protocol):
    """Told about every HTTP request (``status``: the HTTP status, or ``"error"`` for no answer)."""

    def api_request(self, service: str, method: str, status: str, seconds: float) -> None: ...


class _NoRecorder:
    def api_request(self, service: str, method: str, status: str, seconds: float) -> None:
        return None


#: The recorder of a connection nobody records.
NO_RECORDER: Recorder = _NoRecorder()


@dataclass(frozen=True)
class NovaCall:
    """One answered Nova call: method, path (no query), query parameters, decoded answer (None when empty)."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    answer: JSONValue = None


NovaObserver = Callable[[NovaCall], None]

_VERSION_SUFFIX = re.compile(r"/v[0-9]+(\.[0-9]+)?(/.*)?$")


class ServiceMap:
    """URL -> service type, from the token's catalog (``catalog()`` makes no request of its own)."""

    def __init__(self, catalog: Callable[[], Iterable[Mapping[str, object]]]) -> None:
        self.catalog = catalog
        self.prefixes: list[tuple[str, str]] = []

    def _load(self) -> None:
        try:
            entries = list(self.catalog())
        except Exception:  # noqa: BLE001 - not authenticated yet: try again on the next request
            return
        prefixes = []
        for entry in entries:
            endpoints = entry.get("endpoints")
            for endpoint in endpoints if isinstance(endpoints, list) else []:
                url = str(endpoint.get("url") or "").rstrip("/") if isinstance(endpoint, dict) else ""
                if url:
                    prefixes.append((_VERSION_SUFFIX.sub("", url), str(entry.get("type", "unknown"))))
        self.prefixes = sorted(set(prefixes), key=lambda p: -len(p[0]))

    def of(self, url: str) -> str:
        if "/auth/tokens" in url or "/auth/" in urlsplit(url).path:
            return "identity"
        if not self.prefixes:
            self._load()
        for prefix, service in self.prefixes:
            if url.startswith(prefix):
                return service
        return "unknown"


class _Request(Protocol):
    @property
    def url(self) -> str | None: ...
    @property
    def method(self) -> str | None: ...


class _Answer(Protocol):
    @property
    def status_code(self) -> int: ...


def instrument(
    send: Callable[..., _Answer], services: ServiceMap, recorder: Recorder, clock: Callable[[], float] = time.monotonic
) -> Callable[..., _Answer]:
    """``send`` (a requests Session's) that tells ``recorder`` of every request, answered or
    not (status ``error``: no answer, such as a refused connection or a timeout)."""

    def record(request: _Request, status: str, seconds: float) -> None:
        try:
            recorder.api_request(services.of(request.url or ""), request.method or "GET", status, seconds)
        except Exception:  # noqa: BLE001 - recording never breaks a request
            pass

    def timed_send(request: _Request, **kwargs: object) -> _Answer:
        started = clock()
        try:
            response = send(request, **kwargs)
        except Exception:
            record(request, "error", clock() - started)
            raise
        record(request, str(response.status_code), clock() - started)
        return response

    return timed_send
