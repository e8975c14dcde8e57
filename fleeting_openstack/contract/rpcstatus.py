"""An error status with details: how fleeting's client reads a partial Suspend/Resume.

fleeting's Go server answers a Suspend or Resume that partly failed with
``status.New(codes.Unknown, err.Error()).WithDetails(&SuspendResponse{Succeeded: ...})``,
and its client looks for that response among the status details
(``status.FromError(err).Details()``). On the wire the details travel as the trailer
``grpc-status-details-bin``: a serialized ``google.rpc.Status`` (code 1, message 2,
repeated ``google.protobuf.Any`` details 3; Any: type_url 1, value 2). grpc-go takes
the code and message from that trailer when it is present, so they are the status's own.

The ``google.rpc.Status`` message is small and fixed: it is encoded here by hand
(protobuf's wire format), so no googleapis package is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from fleeting_openstack.contract.scan import encode_varint

__all__ = ["DETAILS_TRAILER", "ErrorWithDetails", "encode_status"]

#: The trailer gRPC carries a ``google.rpc.Status`` in.
DETAILS_TRAILER = "grpc-status-details-bin"
#: The prefix of an Any's type URL (what ``anypb.New`` writes and the Go registry resolves).
TYPE_URL_PREFIX = "type.googleapis.com/"


def _field(number: int, payload: bytes) -> bytes:
    return encode_varint(number << 3 | 2) + encode_varint(len(payload)) + payload


def encode_status(code: int, message: str, details: Sequence[tuple[str, bytes]]) -> bytes:
    """A serialized ``google.rpc.Status``; ``details``: (message full name, serialized message)."""
    out = bytearray()
    if code:
        out += encode_varint(1 << 3 | 0) + encode_varint(code)
    if message:
        out += _field(2, message.encode("utf-8"))
    for full_name, value in details:
        out += _field(3, _field(1, (TYPE_URL_PREFIX + full_name).encode()) + _field(2, value))
    return bytes(out)


class ErrorWithDetails(grpc.Status):
    """What ``ServicerContext.abort_with_status`` sends: ``code``, ``details`` (the message) and the
    ``grpc-status-details-bin`` trailer carrying ``response`` as the status's one detail."""

    def __init__(self, code: grpc.StatusCode, message: str, full_name: str, response: bytes) -> None:
        self.code = code
        self.details = message
        raw = encode_status(code.value[0], message, [(full_name, response)])
        self.trailing_metadata = ((DETAILS_TRAILER, raw),)
