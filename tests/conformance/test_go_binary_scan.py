"""The contract scan on real Go binaries (the scan itself: tests/unit/contract/test_wire_scan.py):

* the conformance test package, compiled here, links the built-in contract's Go stubs; the
  scan must find the same messages and service as the .proto they were generated from;
* the fleetingclient test package links fleeting's own generated code (the fleeting module
  tests/conformance/go.mod pins), as a gitlab-runner binary does: the plugin must read
  fleeting's contract from it, and ``protocol`` must report no difference from the built-in
  contract (issue 17: the built-in contract is fleeting's).

Needs Go (and the module proxy or a warm module cache); fails, never skips, without it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from installed import plugin_executable

from fleeting_openstack.contract import discovery, scan
from fleeting_openstack.proto import fleeting_pb2

CONFORMANCE = Path(__file__).parent


def build_test_binary(tmp_path_factory, package: str) -> Path:
    go = shutil.which("go")
    assert go, "Go is required"
    out = tmp_path_factory.mktemp("gobin") / "pkg.test"
    proc = subprocess.run([go, "test", "-c", "-o", str(out), package], cwd=CONFORMANCE,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def go_test_binary(tmp_path_factory) -> Path:
    """A real Go binary: the conformance test package, which links the built-in contract's Go stubs."""
    return build_test_binary(tmp_path_factory, ".")


@pytest.fixture(scope="module")
def fleeting_binary(tmp_path_factory) -> Path:
    """A real Go binary built with fleeting's own module (its client and generated stubs)."""
    return build_test_binary(tmp_path_factory, "./fleetingclient")


def shape(proto):
    return (proto.package, [(m.name, [(f.name, f.number, f.type, f.label, f.type_name) for f in m.field])
                            for m in proto.message_type], list(proto.service))


def builtin_proto() -> descriptor_pb2.FileDescriptorProto:
    builtin = descriptor_pb2.FileDescriptorProto()
    fleeting_pb2.DESCRIPTOR.CopyToProto(builtin)
    return builtin


def test_real_go_binary(go_test_binary, tmp_path):
    files = scan.scan(go_test_binary.read_bytes())
    packages = {e.proto.package for e in files}
    # the fleeting stubs, go-plugin's own services, and protobuf's well-known types
    assert {"proto", "plugin", "google.protobuf"} <= packages
    contract = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(go_test_binary),
                                   "XDG_CACHE_HOME": str(tmp_path)})
    assert contract.origin == "override"
    assert contract.service.full_name == "proto.InstanceGroup"
    # the same messages and service as the .proto the Go stubs were generated from
    assert shape(contract.files[-1]) == shape(builtin_proto())


def test_fleeting_binary_serves_fleetings_contract_with_no_difference(fleeting_binary, tmp_path):
    contract = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(fleeting_binary),
                                   "XDG_CACHE_HOME": str(tmp_path)})
    assert contract.origin == "override"
    assert contract.service.full_name == "proto.InstanceGroup"
    found = contract.files[-1]
    assert found.name.endswith("instance_group.proto"), found.name  # fleeting's own file, not ours
    assert shape(found) == shape(builtin_proto())
    report = subprocess.run([plugin_executable(), "protocol", "--json", str(fleeting_binary)],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path)))
    assert report.returncode == 0, report.stdout + report.stderr
    doc = json.loads(report.stdout)
    assert doc["found"] and doc["service"] == "proto.InstanceGroup"
    assert doc["differences"] == [] and doc["problems"] == [], doc
