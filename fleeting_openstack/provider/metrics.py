"""Opt-in Prometheus metrics (``metrics.listen`` in plugin_config; off by default).

gitlab-runner already exports instance creation, readiness, running and
deletion times; the plugin adds what only it sees: the state of every server
of the group as the plugin reports it, creates and deletes with their reasons,
failures, every OpenStack API call (service, method, HTTP status, latency),
how long an Update takes and how long a server takes to become ready. The
names, the scrape config, alert rules and a Grafana dashboard are in
docs/monitoring.md.

Nothing is recorded or served until :func:`start` is called (Init does, when
``metrics.listen`` is set); ``prometheus_client`` is imported only then, so
the handshake and the commands for people do not pay for it.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("fleeting_openstack.metrics")

PREFIX = "fleeting_openstack"
#: Every metric the plugin exports (docs/monitoring.md documents each; a test checks both ways).
NAMES = (
    f"{PREFIX}_instances",
    f"{PREFIX}_creates_total",
    f"{PREFIX}_deletes_total",
    f"{PREFIX}_failures_total",
    f"{PREFIX}_api_requests_total",
    f"{PREFIX}_api_request_duration_seconds",
    f"{PREFIX}_update_duration_seconds",
    f"{PREFIX}_instance_ready_seconds",
    f"{PREFIX}_build_info",
    f"{PREFIX}_suspend_actions_total",
    f"{PREFIX}_suspend_action_duration_seconds",
    f"{PREFIX}_resume_ready_seconds",
)
STATES = ("creating", "running", "deleting", "timeout", "suspending", "suspended", "resuming")


@dataclass(frozen=True)
class _Metrics:
    """The metrics while they are served (one registry per process)."""

    instances: Gauge
    creates: Counter
    deletes: Counter
    failures: Counter
    api: Counter
    api_latency: Histogram
    update: Histogram
    ready: Histogram
    build_info: Gauge
    suspends: Counter
    suspend_latency: Histogram
    resume_ready: Histogram


_lock = threading.Lock()
_m: _Metrics | None = None
_server: WSGIServer | None = None
_listen: str | None = None


def enabled() -> bool:
    return _m is not None


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"`` or ``":port"`` (all addresses) -> (host, port)."""
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):([0-9]{1,5})", listen)
    if not match or not 0 < int(match.group(3)) < 65536:
        raise ValueError(f'metrics.listen {listen!r} is not host:port (e.g. "127.0.0.1:9464" or ":9464")')
    return match.group(1) or match.group(2) or "0.0.0.0", int(match.group(3))


def _create(registry: CollectorRegistry) -> _Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    from fleeting_openstack import __version__

    latency = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
    m = _Metrics(
        instances=Gauge(
            f"{PREFIX}_instances", "Servers of the group by the state the plugin reports", ["state"], registry=registry
        ),
        creates=Counter(f"{PREFIX}_creates", "Servers the plugin asked Nova to create", registry=registry),
        deletes=Counter(
            f"{PREFIX}_deletes",
            "Servers the plugin deleted, by reason "
            "(runner: Decrease; status_error, status_other, stuck_build, boot_failed, "
            "boot_timeout, redelete: the plugin's own deletes of unusable servers)",
            ["reason"],
            registry=registry,
        ),
        failures=Counter(
            f"{PREFIX}_failures",
            "Failed operations by operation and reason (http_<status>, or the error's class)",
            ["operation", "reason"],
            registry=registry,
        ),
        api=Counter(
            f"{PREFIX}_api_requests",
            "OpenStack API requests by service, method and HTTP status (error: no answer)",
            ["service", "method", "status"],
            registry=registry,
        ),
        api_latency=Histogram(
            f"{PREFIX}_api_request_duration_seconds",
            "OpenStack API request latency (the whole request)",
            ["service", "method"],
            buckets=latency,
            registry=registry,
        ),
        update=Histogram(
            f"{PREFIX}_update_duration_seconds",
            "Duration of the runner's Update calls",
            buckets=latency,
            registry=registry,
        ),
        ready=Histogram(
            f"{PREFIX}_instance_ready_seconds",
            "Seconds from a server's creation until the plugin reports it running",
            buckets=(15, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800),
            registry=registry,
        ),
        build_info=Gauge(
            f"{PREFIX}_build_info", "Always 1; the plugin's version as a label", ["version"], registry=registry
        ),
        suspends=Counter(
            f"{PREFIX}_suspend_actions",
            "Suspend and Resume actions on servers, by call (suspend, resume) and result (ok, failed)",
            ["call", "result"],
            registry=registry,
        ),
        suspend_latency=Histogram(
            f"{PREFIX}_suspend_action_duration_seconds",
            "How long one server's Suspend or Resume action took to be accepted by Nova (mark + action)",
            ["call"],
            buckets=latency,
            registry=registry,
        ),
        resume_ready=Histogram(
            f"{PREFIX}_resume_ready_seconds",
            "Seconds from a Resume until the plugin reports the server running again",
            buckets=(1, 2.5, 5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600),
            registry=registry,
        ),
    )
    m.build_info.labels(__version__).set(1)
    for state in STATES:
        m.instances.labels(state).set(0)
    return m


def start(listen: str) -> tuple[str, int]:
    """Serve ``/metrics`` on ``listen`` and start recording; returns the bound (host, port)."""
    global _m, _server, _listen
    with _lock:
        if _server is not None:
            if listen != _listen:
                log.warning("metrics already served on %s; metrics.listen %s ignored", _listen, listen)
            return _bound(_server)
        host, port = parse_listen(listen)
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        metrics = _create(registry)
        _server, _thread = start_http_server(port, addr=host, registry=registry)
        _m, _listen = metrics, listen
        bound = _bound(_server)
    log.info("metrics served", extra={"listen": f"{bound[0]}:{bound[1]}", "path": "/metrics"})
    return bound


def _bound(server: WSGIServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host), int(port)


def stop() -> None:
    global _m, _server, _listen
    with _lock:
        if _server is not None:
            _server.shutdown()
            _server.server_close()
        _m, _server, _listen = None, None, None


# -- recording (each a no-op while metrics are off) ---------------------------------


def instances(states: list[str]) -> None:
    if _m is None:
        return
    counts = collections.Counter(states)  # one pass: Update calls this with every member
    for state in STATES:
        _m.instances.labels(state).set(counts[state])


def created() -> None:
    if _m is not None:
        _m.creates.inc()


def deleted(reason: str) -> None:
    if _m is not None:
        _m.deletes.labels(reason).inc()


def failed(operation: str, exc: BaseException) -> None:
    if _m is not None:
        status = getattr(exc, "status", None)
        _m.failures.labels(operation, f"http_{status}" if status else type(exc).__name__).inc()


def update_seconds(seconds: float) -> None:
    if _m is not None:
        _m.update.observe(seconds)


def ready_seconds(seconds: float) -> None:
    if _m is not None:
        _m.ready.observe(max(0.0, seconds))


def suspend_action(call: str, result: str, seconds: float) -> None:
    """One server's Suspend or Resume (``call``), ``result`` ok or failed, and how long it took."""
    if _m is not None:
        _m.suspends.labels(call, result).inc()
        _m.suspend_latency.labels(call).observe(max(0.0, seconds))


def resume_ready_seconds(seconds: float) -> None:
    if _m is not None:
        _m.resume_ready.observe(max(0.0, seconds))


def reap_reason(reason: str) -> str:
    """The bounded label for a reason of the provider's own delete."""
    for prefix, label in (
        ("status ERROR", "status_error"),
        ("status ", "status_other"),
        ("stuck in BUILD", "stuck_build"),
        ("boot failed", "boot_failed"),
        ("no boot marker", "boot_timeout"),
        ("delete did not complete", "redelete"),
    ):
        if reason.startswith(prefix):
            return label
    return "other"


# -- OpenStack API calls ----------------------------------------------------------------


def api_request(service: str, method: str, status: str, seconds: float) -> None:
    """One HTTP request of the OpenStack adapter (status ``error``: no answer). This module
    is the adapter's recorder (:class:`fleeting_openstack.openstack.recording.Recorder`)."""
    if _m is not None:
        _m.api.labels(service, method, status).inc()
        _m.api_latency.labels(service, method).observe(seconds)
