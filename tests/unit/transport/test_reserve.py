"""The Reserve (transport/reserve.py): application calls stuck on the cloud are refused
beyond their slots, and never crowd out a method with a lane of its own (Heartbeat)."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from fleeting_openstack.transport.reserve import LANES, Reserve


class _Service(grpc.GenericRpcHandler):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def service(self, details):
        method = details.method.rsplit("/", 1)[-1]

        def slow(request: bytes, context) -> bytes:
            self.entered.release()
            self.release.wait(20)
            return b"slow"

        def quick(request: bytes, context) -> bytes:
            return b"ok"

        return grpc.unary_unary_rpc_method_handler(slow if method == "Slow" else quick)


@pytest.fixture()
def served():
    service = _Service()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[Reserve(3, {"Heartbeat": 2})])
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield service, channel
    service.release.set()
    channel.close()
    server.stop(None)


def test_heartbeat_has_a_lane_other_calls_cannot_take(served):
    service, channel = served
    slow = channel.unary_unary("/x.Group/Slow")
    heartbeat = channel.unary_unary("/x.Group/Heartbeat")
    pending = [slow.future(b"", timeout=30) for _ in range(3)]
    for _ in range(3):
        assert service.entered.acquire(timeout=10)
    with pytest.raises(grpc.RpcError) as refused:
        slow(b"", timeout=5)
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "plugin busy: 3 calls" in refused.value.details()
    assert [heartbeat(b"", timeout=2) for _ in range(20)] == [b"ok"] * 20  # never refused for the others
    service.release.set()
    assert [p.result() for p in pending] == [b"slow"] * 3


def test_the_plugin_gives_heartbeat_and_update_lanes():
    assert LANES.get("Heartbeat", 0) >= 1 and LANES.get("Update", 0) >= 1
