"""Suspend/Resume on the wire (issue 19): the installed plugin process answers a partial
Suspend/Resume as fleeting's own Go server does (``status.New(codes.Unknown, msg).WithDetails(
&SuspendResponse{Succeeded})``): an error status whose ``grpc-status-details-bin`` trailer is a
``google.rpc.Status`` carrying the response with the ids that succeeded. The trailer is decoded
here with a ``google.rpc.Status`` descriptor built independently of the plugin's encoder; fleeting's
own client reading it is proven in tests/conformance/test_provisioner.py."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from installed import plugin_executable
from wirecontract import PluginUnderTest

from fleeting_openstack.contract.rpcstatus import DETAILS_TRAILER, encode_status
from fleeting_openstack.proto import fleeting_pb2

SVC = "proto.InstanceGroup"


def status_class():
    """``google.rpc.Status`` (code 1 int32, message 2 string, details 3 repeated Any), from its .proto facts."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(any_pb2.DESCRIPTOR.serialized_pb))
    f = descriptor_pb2.FileDescriptorProto(name="google/rpc/status.proto", package="google.rpc",
                                           dependency=["google/protobuf/any.proto"], syntax="proto3")
    m = f.message_type.add(name="Status")
    m.field.add(name="code", number=1, type=5, label=1)
    m.field.add(name="message", number=2, type=9, label=1)
    m.field.add(name="details", number=3, type=11, label=3, type_name=".google.protobuf.Any")
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


def test_encoder_matches_protobufs_own_encoding():
    Status = status_class()
    raw = encode_status(2, "Suspend: 1 of 2", [("proto.SuspendResponse", b"\n\x01a")])
    got = Status.FromString(raw)
    assert (got.code, got.message) == (2, "Suspend: 1 of 2")
    assert [(d.type_url, d.value) for d in got.details] == [("type.googleapis.com/proto.SuspendResponse", b"\n\x01a")]
    assert Status.FromString(raw).SerializeToString() == raw


@pytest.mark.parametrize(("method", "response"), [("Suspend", "SuspendResponse"), ("Resume", "ResumeResponse")])
def test_a_partial_answer_is_an_error_whose_details_carry_the_ids(tmp_path, method, response):
    plugin = PluginUnderTest(plugin_executable(), tmp_path)
    pool = descriptor_pool.Default()
    fleeting_pb2.DESCRIPTOR  # noqa: B018 - registers the built-in contract in the default pool
    try:
        plugin.call(pool, SVC, "Init", {"config": b'{"name": "s", "suspend_resume": true}'})
        plugin.call(pool, SVC, "Increase", {"n": 2})
        plugin.call(pool, SVC, "Update", stream=True)
        plugin.call(pool, SVC, "Update", stream=True)  # running
        if method == "Resume":
            plugin.call(pool, SVC, "Suspend", {"instances": ["mem-1", "mem-2"]})
        whole = plugin.call(pool, SVC, method, {"instances": ["mem-1"]})
        assert list(whole.succeeded) == ["mem-1"]  # all done: a plain OK answer
        with pytest.raises(grpc.RpcError) as err:
            plugin.call(pool, SVC, method, {"instances": ["mem-2", "mem-404"]})
        assert err.value.code() == grpc.StatusCode.UNKNOWN
        assert "mem-404" in err.value.details()
        trailer = dict(err.value.trailing_metadata())[DETAILS_TRAILER]
        status = status_class().FromString(trailer)
        assert status.code == grpc.StatusCode.UNKNOWN.value[0] and status.message == err.value.details()
        [detail] = status.details
        assert detail.type_url == f"type.googleapis.com/proto.{response}"
        answer = getattr(fleeting_pb2, response).FromString(detail.value)
        assert list(answer.succeeded) == ["mem-2"]
    finally:
        plugin.stop()
