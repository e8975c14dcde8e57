"""The contract scan on a real Go binary: the conformance test package, compiled here, links
the built-in contract's Go stubs; the scan must find the same messages and service as the
.proto they were generated from (the scan itself: tests/unit/contract/test_wire_scan.py).

Needs Go (and the module proxy or a warm module cache); fails, never skips, without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from fleeting_openstack.contract import discovery, scan
from fleeting_openstack.proto import fleeting_pb2

CONFORMANCE = Path(__file__).parent


@pytest.fixture(scope="module")
def go_test_binary(tmp_path_factory) -> Path:
    """A real Go binary: the conformance test package, which links the built-in contract's Go stubs."""
    go = shutil.which("go")
    assert go, "Go is required"
    out = tmp_path_factory.mktemp("gobin") / "conformance.test"
    subprocess.run([go, "test", "-c", "-o", str(out), "."], cwd=CONFORMANCE, check=True,
                   capture_output=True, timeout=600)
    return out


def test_real_go_binary(go_test_binary, tmp_path):
    files = scan.scan(go_test_binary.read_bytes())
    packages = {e.proto.package for e in files}
    # the fleeting stubs, go-plugin's own services, and protobuf's well-known types
    assert {"proto", "plugin", "google.protobuf"} <= packages
    contract = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(go_test_binary),
                                   "XDG_CACHE_HOME": str(tmp_path)})
    assert contract.origin == "override"
    assert contract.service.full_name == "proto.InstanceGroup"
    builtin = descriptor_pb2.FileDescriptorProto()
    fleeting_pb2.DESCRIPTOR.CopyToProto(builtin)
    found = contract.files[-1]
    # the same messages and service as the .proto the Go stubs were generated from
    def shape(proto):
        return ([(m.name, [(f.name, f.number, f.type, f.label, f.type_name) for f in m.field])
                 for m in proto.message_type], list(proto.service))
    assert shape(found) == shape(builtin)
