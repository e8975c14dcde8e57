"""The built-in contract is fleeting's: checked against a binary built with fleeting itself.

fleeting's own example plugin (``plugin/fleeting-plugin-dummy`` of the module
version tests/conformance/go.mod pins, built in that module) is compiled here; its executable embeds
fleeting's ``instance_group.proto`` as a serialized descriptor. The plugin's
scan must find it, every message, field (name, number, type, label), enum value
and method (streaming included) must equal the built-in one, and ``protocol`` on
that binary must report no difference.

Needs Go and the module proxy (or a warm module cache); fails, never skips, without them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from fleeting_openstack.contract import discovery
from fleeting_openstack.proto import fleeting_pb2
from installed import plugin_executable

#: fleeting's module; the conformance module's go.mod pins its version (the one the Go module proxy serves).
FLEETING = "gitlab.com/gitlab-org/fleeting/fleeting"
CONFORMANCE = Path(__file__).parent


@pytest.fixture(scope="module")
def fleeting_dummy(tmp_path_factory) -> Path:
    go = shutil.which("go")
    assert go, "Go is required"
    out = tmp_path_factory.mktemp("fleetingdummy") / "fleeting-plugin-dummy"
    # built in the conformance module: the fleeting version and checksums of its go.mod / go.sum
    dummy = f"{FLEETING}/plugin/fleeting-plugin-dummy/cmd/fleeting-plugin-dummy"
    done = subprocess.run([go, "build", "-o", str(out), dummy], cwd=CONFORMANCE,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def shape(proto: descriptor_pb2.FileDescriptorProto) -> dict[str, object]:
    """Everything of a .proto that is on the wire or names a method path (not the file name or options)."""

    def message(m: descriptor_pb2.DescriptorProto) -> object:
        return (m.name,
                sorted((f.name, f.number, f.type, f.label, f.type_name) for f in m.field),
                sorted(message(n) for n in m.nested_type),
                sorted((e.name, [(v.name, v.number) for v in e.value]) for e in m.enum_type))

    return {
        "package": proto.package,
        "messages": sorted(message(m) for m in proto.message_type),
        "enums": sorted((e.name, [(v.name, v.number) for v in e.value]) for e in proto.enum_type),
        "services": [(s.name, [(m.name, m.input_type, m.output_type, m.client_streaming, m.server_streaming)
                               for m in s.method]) for s in proto.service],
    }


def test_builtin_contract_equals_the_one_fleeting_compiles_into_its_plugins(fleeting_dummy, tmp_path):
    contract = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(fleeting_dummy), "XDG_CACHE_HOME": str(tmp_path)})
    assert contract.origin == "override", contract.notes
    assert contract.service.full_name == "proto.InstanceGroup"
    found = next(f for f in contract.files if any(s.name == "InstanceGroup" for s in f.service))
    builtin = descriptor_pb2.FileDescriptorProto()
    fleeting_pb2.DESCRIPTOR.CopyToProto(builtin)
    assert shape(found) == shape(builtin)


def test_protocol_on_a_binary_built_with_fleeting_reports_no_difference(fleeting_dummy):
    done = subprocess.run([plugin_executable(), "protocol", str(fleeting_dummy), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["found"] and report["service"] == "proto.InstanceGroup"
    assert report["problems"] == [] and report["differences"] == []
    text = subprocess.run([plugin_executable(), "protocol", str(fleeting_dummy)],
                          capture_output=True, text=True, timeout=120).stdout
    assert "differences from the built-in contract (fleeting's):\n  none\n" in text
