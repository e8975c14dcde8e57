"""The services every go-plugin gRPC server carries, beside the application's.

Health (``plugin`` SERVING, used by the client's Ping), Controller (Shutdown
on Kill), Stdio (held open and silent) and Broker (held open, knocks refused).
Imported only after the handshake line is out: it pulls in gRPC and the
generated stubs, which cost most of the plugin's start-up time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc

from fleeting_openstack.proto import goplugin_pb2, goplugin_pb2_grpc, health_pb2, health_pb2_grpc

if TYPE_CHECKING:
    from google.protobuf import empty_pb2

log = logging.getLogger("fleeting_openstack.goplugin")


class _Health(health_pb2_grpc.HealthServicer):
    """go-plugin's Ping checks service "plugin"; answer SERVING for it and ""."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        if request.service not in ("", "plugin"):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> Iterator[health_pb2.HealthCheckResponse]:
        yield self.Check(request, context)
        _wait_until_done(self._stop, context)


class _Controller(goplugin_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def Shutdown(self, request: goplugin_pb2.Empty, context: grpc.ServicerContext) -> goplugin_pb2.Empty:
        log.debug("shutdown requested by the client")
        self._stop.set()
        return goplugin_pb2.Empty()


class _Stdio(goplugin_pb2_grpc.GRPCStdioServicer):
    """Held open and silent: this plugin never writes to stdout after the
    handshake, and its stderr goes to the client directly as log lines."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def StreamStdio(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> Iterator[goplugin_pb2.StdioData]:
        _wait_until_done(self._stop, context)
        yield from ()  # a stream that ends without a message


class _Broker(goplugin_pb2_grpc.GRPCBrokerServicer):
    """Accepts the broker stream; refuses knocks, since nothing is brokered."""

    def StartStream(
        self, request_iterator: Iterator[goplugin_pb2.ConnInfo], context: grpc.ServicerContext
    ) -> Iterator[goplugin_pb2.ConnInfo]:
        for info in request_iterator:
            if info.HasField("knock") and info.knock.knock:
                yield goplugin_pb2.ConnInfo(
                    service_id=info.service_id,
                    knock=goplugin_pb2.ConnInfo.Knock(
                        knock=True, ack=False, error="this plugin brokers no connections"
                    ),
                )


def _wait_until_done(stop: threading.Event, context: grpc.ServicerContext) -> None:
    done = threading.Event()
    context.add_callback(done.set)
    while not (done.is_set() or stop.is_set()):
        done.wait(0.5)


def add_to(server: grpc.Server, stop: threading.Event) -> None:
    """Register health, controller, stdio and broker on ``server``."""
    health_pb2_grpc.add_HealthServicer_to_server(_Health(stop), server)
    goplugin_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stop), server)
    goplugin_pb2_grpc.add_GRPCStdioServicer_to_server(_Stdio(stop), server)
    goplugin_pb2_grpc.add_GRPCBrokerServicer_to_server(_Broker(), server)
