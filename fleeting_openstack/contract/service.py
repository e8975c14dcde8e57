"""The fleeting gRPC service: the runner's messages in, provider calls, messages out.

The service is not generated code: it serves whatever contract
:mod:`fleeting_openstack.contract.discovery` found (the runner's own, read from its
executable, or the built-in one: fleeting's), with messages built from the
discovered descriptors and fields mapped by :mod:`fleeting_openstack.contract.mapping`.
Discovery runs right after the handshake line, and the first RPC waits for it
(:mod:`fleeting_openstack.contract.servedcontract`).

Knows nothing of go-plugin or OpenStack. Every provider error becomes a gRPC
status whose message names the RPC and the reason: the error type is lost
across the wire, so the words are all the runner gets. A method the contract
declares but the plugin cannot serve, and a method the contract does not
declare, answer ``Unimplemented`` naming the method; the latter is logged
once with the request's shape (never its strings).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import grpc

from fleeting_openstack.contract.instancegroup import (
    ConnectorConfig,
    InstanceGroup,
    InstanceUnhealthy,
    PartialError,
    Settings,
)
from fleeting_openstack.contract.kinds import BOOL, DURATION, INT, JSON, KEY, STATE, STR, STRLIST, TIMESTAMP
from fleeting_openstack.contract.servedcontract import ContractHolder, ServedContract

# ContractHolder and ServedContract (contract/servedcontract.py) are part of what serving needs.
__all__ = ["ContractHolder", "FleetingService", "ServedContract", "register"]

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from fleeting_openstack.contract.mapping import MessageMap, MethodMap


# The mapping, discovery and protobuf modules are imported inside the functions that
# use them: only once a call arrives (or discovery starts), off the handshake's path.

log = logging.getLogger("fleeting_openstack.service")

_TRANSPORT_PREFIXES = ("/grpc.health.v1.", "/plugin.GRPC")
_CONNECTOR_KINDS = {
    "os": STR,
    "arch": STR,
    "protocol": STR,
    "protocol_port": INT,
    "username": STR,
    "password": STR,
    "key": KEY,
    "use_static_credentials": BOOL,
    "keepalive": DURATION,
    "timeout": DURATION,
}


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _connector_in(msg: Message, mm: MessageMap) -> ConnectorConfig:
    from fleeting_openstack.contract import values

    def text(key: str) -> str:
        return values.read_str(msg, mm, f"connector.{key}")

    def seconds(key: str) -> float:
        return values.read_seconds(msg, mm, f"connector.{key}") or 0.0

    return ConnectorConfig(
        os=text("os"),
        arch=text("arch"),
        protocol=text("protocol"),
        protocol_port=values.read_int(msg, mm, "connector.protocol_port"),
        username=text("username"),
        password=text("password"),
        key=values.read_bytes(msg, mm, "connector.key", KEY),
        use_static_credentials=values.read_bool(msg, mm, "connector.use_static_credentials"),
        keepalive=seconds("keepalive"),
        timeout=seconds("timeout"),
    )


def _connector_out(msg: Message, mm: MessageMap, cfg: ConnectorConfig) -> None:
    from fleeting_openstack.contract import values

    for key, kind in _CONNECTOR_KINDS.items():
        values.write(msg, mm, f"connector.{key}", kind, getattr(cfg, key))


def _partial(mm: MethodMap, response: Message, exc: PartialError) -> None:
    """A partial result is answered OK: a Go gRPC client drops the response that
    comes with an error status (fleeting's does), so only an OK answer lets the
    runner count what exists. The reason goes into the contract's error field
    when it has one, and to the log."""
    from fleeting_openstack.contract import values

    values.write(response, mm.response, "error", STR, str(exc))
    log.warning("%s partly done: %s", mm.rpc, exc, extra={"rpc": mm.rpc})


class _Details(Exception):
    """Answer an error status whose details carry the response (a partial Suspend/Resume)."""

    def __init__(self, status: grpc.Status, message: str) -> None:
        super().__init__(message)
        self.status = status


class FleetingService(grpc.GenericRpcHandler):
    """Answers every method of the discovered service (and refuses the rest readably)."""

    def __init__(self, provider: InstanceGroup, holder: ContractHolder) -> None:
        self.provider = provider
        self.holder = holder
        self.initialized = threading.Event()
        self._lock = threading.Lock()
        self._logged_unknown: set[str] = set()

    # -- dispatch ------------------------------------------------------------------------------
    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        """One raw-bytes streaming handler per method path: which messages it
        speaks is decided inside the call, on a worker thread, because the
        contract may still be being discovered (the server's own thread, which
        also answers health pings, must never wait for that)."""
        path = handler_call_details.method
        if path.startswith(_TRANSPORT_PREFIXES):
            return None

        def handle(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            return self._call(path, requests, context)

        return grpc.stream_stream_rpc_method_handler(handle)

    def _call(self, path: str, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        from google.protobuf import message_factory
        from google.protobuf.message import DecodeError

        from fleeting_openstack.contract import mapping

        first = next(iter(requests), b"")
        try:
            served = self.holder.get()
        except TimeoutError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{path}: {exc}")
        if path not in served.paths:
            self._log_unknown(path, f"not a method of {served.contract.service.full_name}", first)
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"unknown method {path}: this plugin serves {served.contract.service.full_name}",
            )
        rpc = served.paths[path]
        mm = served.methods.get(rpc) if rpc else None
        call = getattr(self, f"_rpc_{mm.rpc.lower()}", None) if mm else None
        if mm is None or call is None or mm.rpc not in mapping.MAPPED:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{path}: not implemented by fleeting-plugin-openstack")
        assert mm is not None and call is not None
        factory_in = message_factory.GetMessageClass(mm.method.input_type)
        factory_out = message_factory.GetMessageClass(mm.method.output_type)
        try:
            request = factory_in.FromString(first)
        except DecodeError as exc:
            self._log_unknown(path, f"request does not decode as {mm.method.input_type.full_name}", first)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{mm.rpc}: undecodable request: {exc}")
        result = self._guard(mm, served, lambda: call(request, mm, factory_out), context)
        for message in result if isinstance(result, list) else [result]:
            yield message.SerializeToString()

    def _log_unknown(self, path: str, why: str, request: bytes) -> None:
        from fleeting_openstack.contract import rawfields

        with self._lock:
            if path in self._logged_unknown:
                return
            self._logged_unknown.add(path)
        log.error(
            "the runner called a method this plugin does not serve",
            extra={"method": path, "why": why, "request": rawfields.describe(request)},
        )

    def _guard(
        self,
        mm: MethodMap,
        served: ServedContract,
        call: Callable[[], Message | list[Message]],
        context: grpc.ServicerContext,
    ) -> Message | list[Message]:
        """Log, time, and turn exceptions into readable gRPC statuses named after the RPC."""
        name, started = mm.rpc, time.monotonic()
        try:
            if name == "Init" and served.problems:
                raise _Abort(grpc.StatusCode.UNKNOWN, served.error_text())
            if name != "Init" and not self.initialized.is_set():
                raise _Abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "the plugin was not initialised (Init failed or was not called)",
                )
            response = call()
        except _Abort as exc:
            context.abort(exc.code, f"{name}: {exc}")
        except _Details as exc:
            log.warning("%s partly done: %s", name, exc, extra={"rpc": name})
            context.abort_with_status(exc.status)
        except InstanceUnhealthy as exc:
            log.info("instance unhealthy", extra={"rpc": name, "reason": str(exc)})
            context.abort(grpc.StatusCode.UNAVAILABLE, f"instance unhealthy: {exc}")
        except NotImplementedError as exc:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name}: {exc or 'not supported'}")
        except Exception as exc:  # every error must reach the runner as words
            log.error("%s failed: %s", name, exc, extra={"rpc": name}, exc_info=log.isEnabledFor(logging.DEBUG))
            context.abort(grpc.StatusCode.UNKNOWN, f"{name}: {exc}")
        log.log(5, "rpc done", extra={"rpc": name, "seconds": round(time.monotonic() - started, 4)})
        return response

    # -- the RPCs --------------------------------------------------------------------------------
    def _rpc_init(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        from fleeting_openstack.contract import values

        config = values.read_bytes(request, mm.request, "config", JSON)
        settings = Settings(connector=_connector_in(request, mm.request))
        info = self.provider.init(config, settings)
        self.initialized.set()
        log.info("initialised", extra={"id": info.id, "max_size": info.max_size, "version": info.version})
        response = out()
        init_out: tuple[tuple[str, str, values.ModelValue], ...] = (
            ("id", STR, info.id),
            ("max_size", INT, info.max_size),
            ("version", STR, info.version),
            ("build_info", STR, info.build_info),
            ("capabilities", STRLIST, list(info.capabilities)),
        )
        for key, kind, value in init_out:
            values.write(response, mm.response, key, kind, value)
        return response

    def _rpc_update(self, request: Message, mm: MethodMap, out: type[Message]) -> Message | list[Message]:
        from fleeting_openstack.contract import values

        instances = list(self.provider.update())
        if mm.streamed:
            messages = []
            for instance_id, state in instances:
                msg = out()
                values.write(msg, mm.response, "id", STR, instance_id)
                values.write(msg, mm.response, "state", STATE, state.value)
                messages.append(msg)
            return messages
        response = out()
        leaf = mm.response.leaves["instances"]
        element_map = mm.response.records["instances"]
        node: Message = response
        for fd in leaf.path[:-1]:
            node = getattr(node, fd.name)
        container = getattr(node, leaf.field.name)
        for instance_id, state in instances:
            element = container.add()
            values.write(element, element_map, "id", STR, instance_id)
            values.write(element, element_map, "state", STATE, state.value)
        return response

    def _rpc_increase(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        from fleeting_openstack.contract import values

        delta = values.read_int(request, mm.request, "delta")
        if delta < 0:
            raise ValueError(f"delta must not be negative, got {delta}")
        response = out()
        try:
            done = self.provider.increase(delta)
        except PartialError as exc:
            if not isinstance(exc.done, int):
                raise TypeError(f"a partial Increase reports a count, got {exc.done!r}") from exc
            if exc.done == 0:
                raise  # nothing made: the reason reaches the runner as the error
            done = exc.done
            _partial(mm, response, exc)
        values.write(response, mm.response, "succeeded", INT, int(done))
        return response

    def _rpc_decrease(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        from fleeting_openstack.contract import values

        ids = values.read_strlist(request, mm.request, "instances")
        response = out()
        try:
            done = list(self.provider.decrease(list(ids)))
        except PartialError as exc:
            if isinstance(exc.done, int):
                raise TypeError(f"a partial Decrease reports the IDs it removed, got {exc.done!r}") from exc
            if not exc.done:
                raise  # nothing removed: the reason reaches the runner as the error
            done = list(exc.done)
            _partial(mm, response, exc)
        values.write(response, mm.response, "succeeded", STRLIST, done)
        return response

    def _rpc_connectinfo(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        from fleeting_openstack.contract import values

        info = self.provider.connect_info(values.read_str(request, mm.request, "id"))
        response = out()
        info_out: tuple[tuple[str, str, values.ModelValue], ...] = (
            ("id", STR, info.id),
            ("internal_addr", STR, info.internal_addr),
            ("external_addr", STR, info.external_addr),
            ("expires", TIMESTAMP, info.expires or None),
        )
        for key, kind, value in info_out:
            values.write(response, mm.response, key, kind, value)
        _connector_out(response, mm.response, info.connector)
        return response

    def _rpc_heartbeat(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        from fleeting_openstack.contract import values

        self.provider.heartbeat(values.read_str(request, mm.request, "id"))
        return out()

    def _rpc_suspend(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        return self._power(request, mm, out, self.provider.suspend)

    def _rpc_resume(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        return self._power(request, mm, out, self.provider.resume)

    @staticmethod
    def _power(
        request: Message, mm: MethodMap, out: type[Message], call: Callable[[list[str]], Sequence[str]]
    ) -> Message:
        """Suspend or Resume: the ids started; a partial result is answered the way fleeting's own
        server answers it (an Unknown status whose details carry the response with those ids)."""
        from fleeting_openstack.contract import values
        from fleeting_openstack.contract.rpcstatus import ErrorWithDetails

        ids = values.read_strlist(request, mm.request, "instances")
        response = out()
        try:
            done = list(call(list(ids)))
        except PartialError as exc:
            if isinstance(exc.done, int):
                raise TypeError(f"a partial {mm.rpc} reports the IDs it started, got {exc.done!r}") from exc
            values.write(response, mm.response, "succeeded", STRLIST, list(exc.done))
            message = f"{mm.rpc}: {exc}"
            status = ErrorWithDetails(
                grpc.StatusCode.UNKNOWN, message, mm.method.output_type.full_name, response.SerializeToString()
            )
            raise _Details(status, message) from exc
        values.write(response, mm.response, "succeeded", STRLIST, done)
        return response

    def _rpc_shutdown(self, request: Message, mm: MethodMap, out: type[Message]) -> Message:
        self.provider.shutdown()
        return out()


def register(server: grpc.Server, provider: InstanceGroup, holder: ContractHolder | None = None) -> FleetingService:
    """Serve ``provider`` under the contract ``holder`` discovers (started by the caller)."""
    servicer = FleetingService(provider, holder or ContractHolder())
    server.add_generic_rpc_handlers((servicer,))
    return servicer
