"""What keeps the plugin answering go-plugin whatever the cloud does.

* :class:`Reserve`: at most ``max_workers - RESERVED_WORKERS`` application
  calls hold a gRPC worker at once; further ones are refused with
  ``RESOURCE_EXHAUSTED`` (the runner retries). The reserved workers answer
  go-plugin's health ping, Shutdown, stdio and broker, so a cloud that hangs
  every call can never make the runner think the plugin died. Methods named in
  ``lanes`` (:data:`LANES`: the health check the runner's instances depend on,
  and Update) have workers of their own, so calls of other methods stuck on the cloud never
  crowd them out; and a call whose client has already gone (cancelled, or past
  its deadline while it queued) is dropped instead of started.
* :func:`exit_anyway`: once told to stop (SIGTERM, Shutdown), the process
  exits within :data:`EXIT_GRACE` seconds even if calls still hang in worker
  threads (which Python would otherwise wait for at exit): go-plugin's Kill
  waits 2 s after Controller.Shutdown and then SIGKILLs the plugin, so the
  whole stop (gRPC grace, clean-up, exit) fits in less.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, cast

import grpc

log = logging.getLogger("fleeting_openstack.goplugin")

#: gRPC workers kept free of application calls, for health pings, Shutdown and stdio.
RESERVED_WORKERS = 4
#: Method names (the last part of the path) with workers of their own, and how many: Heartbeat
#: (the group view) and Update (the last known states while the cloud hangs) answer from
#: memory, and must never be refused because calls of other methods wait on the cloud.
LANES: dict[str, int] = {"Heartbeat": 4, "Update": 2}
#: Seconds the process may take to exit after it was told to stop; then it exits anyway
#: (go-plugin's client SIGKILLs a plugin 2 s after Controller.Shutdown).
EXIT_GRACE = 1.5
#: Seconds calls still in flight get to finish once the plugin stops (part of EXIT_GRACE).
CALL_GRACE = 0.5
_INFRA = ("/grpc.health.", "/plugin.GRPCController/", "/plugin.GRPCStdio/", "/plugin.GRPCBroker/")

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
# A handler's behaviour: (request or request iterator, context) -> response or response iterator.
# Messages of any service pass through: the gate only hands them on (a streaming behaviour
# returns an iterator of them).
_Behavior = Callable[[object, grpc.ServicerContext], object]


class _Replaceable(Protocol[_Request, _Response]):
    """grpc's RpcMethodHandler is a namedtuple at run time (the stubs do not say so)."""

    def _replace(self, **behavior: _Behavior) -> grpc.RpcMethodHandler[_Request, _Response]: ...


class Reserve(grpc.ServerInterceptor):
    """Gate application calls with a semaphore of ``slots`` (and one per lane, beside it);
    go-plugin's services pass."""

    def __init__(self, slots: int, lanes: dict[str, int] | None = None) -> None:
        self.slots = max(1, slots)
        self._sem = threading.BoundedSemaphore(self.slots)
        self._lanes = {name: (max(1, n), threading.BoundedSemaphore(max(1, n))) for name, n in (lanes or {}).items()}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[_Request, _Response] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(_INFRA):
            return handler
        method = handler_call_details.method
        slots, sem = self._lanes.get(method.rsplit("/", 1)[-1], (self.slots, self._sem))

        def gate(behavior: _Behavior, streaming: bool) -> _Behavior:
            def run(request: object, context: grpc.ServicerContext) -> object:
                if not context.is_active():  # nobody waits for the answer any more
                    log.debug("dropped a call whose client has gone", extra={"method": method})
                    context.abort(grpc.StatusCode.CANCELLED, "the caller has gone")
                if not sem.acquire(blocking=False):
                    log.warning(
                        "busy: every worker for provider calls is taken; refusing a call",
                        extra={"method": method, "in_flight": slots},
                    )
                    context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"plugin busy: {slots} calls to the cloud in flight; try again",
                    )
                if not streaming:
                    try:
                        return behavior(request, context)
                    finally:
                        sem.release()

                def stream() -> Iterator[object]:
                    try:
                        yield from cast("Iterable[object]", behavior(request, context))
                    finally:
                        sem.release()

                return stream()

            return run

        kinds = {"unary_unary": False, "stream_unary": False, "unary_stream": True, "stream_stream": True}
        for kind, streaming in kinds.items():
            behavior = getattr(handler, kind)
            if behavior is not None:
                replaceable = cast("_Replaceable[_Request, _Response]", handler)
                return replaceable._replace(**{kind: gate(behavior, streaming)})
        return handler


def exit_anyway(code: int, within: float = EXIT_GRACE) -> None:
    """Exit within ``within`` seconds from now even if a call is stuck in a worker thread, or
    clean-up hangs (plugin process only: a no-op off the main thread)."""

    def force() -> None:
        time.sleep(within)
        sys.stderr.flush()
        os._exit(code)

    if threading.current_thread() is threading.main_thread():
        threading.Thread(target=force, name="exit-watchdog", daemon=True).start()
