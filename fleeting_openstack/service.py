"""The fleeting gRPC service: messages in, provider calls, messages out.

Knows the fleeting .proto and the :class:`InstanceGroup` interface, nothing of
go-plugin or OpenStack. Every provider error becomes a gRPC status whose
message names the RPC and the reason: the error type is lost across the wire,
so the words are all the runner gets.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Callable

import grpc

from fleeting_openstack.instancegroup import (
    ConnectInfo, ConnectorConfig, InstanceGroup, InstanceUnhealthy, PartialError, Settings)
from fleeting_openstack.proto import fleeting_pb2 as pb
from fleeting_openstack.proto import fleeting_pb2_grpc

log = logging.getLogger("fleeting_openstack.service")

_NS = 1_000_000_000


def connector_from_pb(msg: pb.ConnectorConfig) -> ConnectorConfig:
    return ConnectorConfig(
        os=msg.os, arch=msg.arch, protocol=msg.protocol, protocol_port=msg.protocol_port,
        username=msg.username, password=msg.password, key=bytes(msg.key),
        use_static_credentials=msg.use_static_credentials,
        keepalive=msg.keepalive / _NS, timeout=msg.timeout / _NS)


def connector_to_pb(cfg: ConnectorConfig) -> pb.ConnectorConfig:
    return pb.ConnectorConfig(
        os=cfg.os, arch=cfg.arch, protocol=cfg.protocol, protocol_port=cfg.protocol_port,
        username=cfg.username, password=cfg.password, key=cfg.key,
        use_static_credentials=cfg.use_static_credentials,
        keepalive=int(cfg.keepalive * _NS), timeout=int(cfg.timeout * _NS))


def connect_info_to_pb(info: ConnectInfo) -> pb.ConnectInfo:
    return pb.ConnectInfo(connector_config=connector_to_pb(info.connector), id=info.id,
                          internal_addr=info.internal_addr, external_addr=info.external_addr,
                          expires=int(info.expires or 0))


def _rpc(method: Callable) -> Callable:
    """Log the call, time it, and turn exceptions into readable gRPC statuses."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: "InstanceGroupServicer", request, context):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        if name != "Init" and not self.initialized.is_set():
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"{name}: the plugin was not initialised (Init failed or was not called)")
        try:
            response = method(self, request, context)
        except InstanceUnhealthy as exc:
            log.info("instance unhealthy", extra={"rpc": name, "reason": str(exc)})
            context.abort(grpc.StatusCode.UNAVAILABLE, f"instance unhealthy: {exc}")
        except NotImplementedError as exc:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name}: {exc or 'not supported'}")
        except Exception as exc:  # noqa: BLE001 - every error must reach the runner as words
            log.error("%s failed: %s", name, exc, extra={"rpc": name}, exc_info=log.isEnabledFor(logging.DEBUG))
            context.abort(grpc.StatusCode.UNKNOWN, f"{name}: {exc}")
        log.log(5, "rpc done", extra={"rpc": name, "seconds": round(time.monotonic() - started, 4)})
        return response

    return wrapper


class InstanceGroupServicer(fleeting_pb2_grpc.InstanceGroupServicer):
    """Dispatches the fleeting RPCs to one provider."""

    def __init__(self, provider: InstanceGroup) -> None:
        self.provider = provider
        self.initialized = threading.Event()

    @_rpc
    def Init(self, request: pb.InitRequest, context) -> pb.InitResponse:  # noqa: N802
        settings = Settings(connector=connector_from_pb(request.settings.connector_config))
        info = self.provider.init(bytes(request.config), settings)
        self.initialized.set()
        log.info("initialised", extra={"id": info.id, "max_size": info.max_size, "version": info.version})
        return pb.InitResponse(info=pb.ProviderInfo(
            id=info.id, max_size=info.max_size, version=info.version, build_info=info.build_info,
            capabilities=list(info.capabilities)))

    @_rpc
    def Update(self, request, context) -> pb.UpdateResponse:  # noqa: N802
        return pb.UpdateResponse(instances=[pb.Instance(id=i, state=s.value)
                                            for i, s in self.provider.update()])

    @_rpc
    def Increase(self, request: pb.IncreaseRequest, context) -> pb.IncreaseResponse:  # noqa: N802
        if request.delta < 0:
            raise ValueError(f"delta must not be negative, got {request.delta}")
        try:
            return pb.IncreaseResponse(succeeded=self.provider.increase(request.delta))
        except PartialError as exc:
            return pb.IncreaseResponse(succeeded=int(exc.done), error=str(exc))  # type: ignore[arg-type]

    @_rpc
    def Decrease(self, request: pb.DecreaseRequest, context) -> pb.DecreaseResponse:  # noqa: N802
        try:
            return pb.DecreaseResponse(succeeded=list(self.provider.decrease(list(request.instances))))
        except PartialError as exc:
            return pb.DecreaseResponse(succeeded=list(exc.done), error=str(exc))  # type: ignore[arg-type]

    @_rpc
    def ConnectInfo(self, request: pb.ConnectInfoRequest, context) -> pb.ConnectInfoResponse:  # noqa: N802
        return pb.ConnectInfoResponse(info=connect_info_to_pb(self.provider.connect_info(request.id)))

    @_rpc
    def Heartbeat(self, request: pb.HeartbeatRequest, context) -> pb.HeartbeatResponse:  # noqa: N802
        self.provider.heartbeat(request.id)
        return pb.HeartbeatResponse()

    @_rpc
    def Shutdown(self, request, context) -> pb.ShutdownResponse:  # noqa: N802
        self.provider.shutdown()
        return pb.ShutdownResponse()

    @_rpc
    def Suspend(self, request, context):  # noqa: N802
        raise NotImplementedError("suspend/resume is not offered (no suspend_resume capability)")

    @_rpc
    def Resume(self, request, context):  # noqa: N802
        raise NotImplementedError("suspend/resume is not offered (no suspend_resume capability)")


def register(server: grpc.Server, provider: InstanceGroup) -> InstanceGroupServicer:
    servicer = InstanceGroupServicer(provider)
    fleeting_pb2_grpc.add_InstanceGroupServicer_to_server(servicer, server)
    return servicer
