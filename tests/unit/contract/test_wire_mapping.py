"""The plugin's model on other contracts' messages: names, synonyms, types, units."""

from __future__ import annotations


import pytest
from google.protobuf import message_factory

from fleeting_openstack.contract import discovery, mapping, rawfields, values
from fleeting_openstack.contract.servedcontract import ServedContract

from wirecontract import compile_proto, pool_of  # noqa: E402


def served_from(tmp_path, source: str) -> ServedContract:
    path = compile_proto(source, tmp_path)
    candidate = discovery.read_source(str(path), {"XDG_CACHE_HOME": str(tmp_path / "cache")})
    contract = discovery.build(candidate.files, "override", str(path), candidate.sha256)
    assert contract is not None
    return ServedContract.of(contract)


def test_builtin_contract_maps_every_slot_to_its_own_field():
    served = ServedContract.of(discovery.builtin())
    assert served.problems == []
    init = mapping.describe(served.methods["Init"].request)
    assert init["config"] == "config"
    assert init["connector.keepalive"] == "settings.connector_config.keepalive"
    assert init["connector.use_static_credentials"] == "settings.connector_config.useStaticCredentials"
    assert mapping.describe(served.methods["Init"].response)["max_size"] == "max_size"
    assert served.methods["Update"].streamed  # one message per instance, as fleeting's client reads it
    assert mapping.describe(served.methods["Update"].response) == {"id": "instance", "state": "state"}
    assert mapping.describe(served.methods["Increase"].request) == {"delta": "n"}
    ci = mapping.describe(served.methods["ConnectInfo"].response)
    assert ci["internal_addr"] == "InternalAddr" and ci["external_addr"] == "ExternalAddr"
    assert ci["connector.key"] == "connector.key" and ci["expires"] == "expires"
    assert mapping.describe(served.methods["ConnectInfo"].request) == {"id": "instance"}
    for mm in served.methods.values():
        assert mm.request.unused == [] and mm.response.unused == []


UNMAPPABLE = """
syntax = "proto3";
package odd.v1;
message InitReq { bytes config = 1; }
message InitResp { string id = 1; int32 max_size = 2; }
message Grow { int32 alpha = 1; int32 beta = 2; }
message Grown { int32 succeeded = 1; }
message Empty {}
service Odd {
  rpc Init(InitReq) returns (InitResp);
  rpc Increase(Grow) returns (Grown);
  rpc Update(Empty) returns (Empty);
}
"""


def test_a_needed_field_that_cannot_be_mapped_is_named_with_the_layout(tmp_path):
    served = served_from(tmp_path, UNMAPPABLE)
    text = served.error_text()
    assert "Increase request: no field for delta" in text
    assert "odd.v1.Grow{int32 alpha = 1; int32 beta = 2}" in text
    assert "Update response: no field for instances" in text


TYPED = """
syntax = "proto3";
package typed.v1;
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
enum InstanceState { INSTANCE_STATE_UNSPECIFIED = 0; INSTANCE_STATE_CREATING = 1; INSTANCE_STATE_RUNNING = 2;
  INSTANCE_STATE_DELETING = 3; INSTANCE_STATE_DELETED = 4; INSTANCE_STATE_TIMEOUT = 5; }
message Conn { google.protobuf.Duration keepalive = 3; int64 timeout_ms = 4; string username = 1; bytes sshKey = 2; }
message InitReq { string payload = 9; Conn connector = 2; }
message Info { string providerId = 1; uint32 maxInstances = 2; }
message Inst { string name = 1; InstanceState status = 2; }
message List { repeated Inst items = 1; }
message CiReq { string instance = 1; }
message CiResp { Conn connector = 1; string internalAddress = 2; google.protobuf.Timestamp expires_at = 3;
                 int64 deadline = 4; }
message Empty {}
service T {
  rpc Initialize(InitReq) returns (Info);
  rpc Update(Empty) returns (List);
  rpc Increase(Empty) returns (Empty);
  rpc ConnectInfo(CiReq) returns (CiResp);
}
"""


def test_types_units_enums_and_the_one_string_field_as_plugin_config(tmp_path):
    served = served_from(tmp_path, TYPED)
    init = served.methods["Init"]
    assert mapping.describe(init.request)["config"] == "payload"  # the one free string field
    assert mapping.describe(init.response) == {"id": "providerId", "max_size": "maxInstances"}
    # Increase(Empty) has no delta: a problem, named
    assert any("Increase request: no field for delta" in p for p in served.problems)

    request_cls = message_factory.GetMessageClass(init.method.input_type)
    msg = request_cls(payload='{"name":"x"}')
    msg.connector.keepalive.seconds, msg.connector.keepalive.nanos = 30, 500_000_000
    msg.connector.timeout_ms = 2500
    assert values.read(msg, init.request, "config", mapping.JSON) == b'{"name":"x"}'
    assert values.read(msg, init.request, "connector.keepalive", mapping.DURATION) == 30.5
    assert values.read(msg, init.request, "connector.timeout", mapping.DURATION) == 2.5
    # the typed readers the service uses: the same values, and the kind's zero where nothing is mapped
    assert values.read_bytes(msg, init.request, "config") == b'{"name":"x"}'
    assert values.read_seconds(msg, init.request, "connector.keepalive") == 30.5
    assert values.read_str(msg, init.request, "connector.username") == ""
    assert values.read_int(msg, init.request, "connector.protocol_port") == 0
    assert values.read_bool(msg, init.request, "connector.use_static_credentials") is False
    assert values.read_strlist(msg, init.request, "instances") == []

    ci = served.methods["ConnectInfo"]
    out = message_factory.GetMessageClass(ci.method.output_type)()
    values.write(out, ci.response, "expires", mapping.TIMESTAMP, 1_700_000_000.25)
    values.write(out, ci.response, "connector.timeout", mapping.DURATION, 1.5)
    assert (out.expires_at.seconds, out.expires_at.nanos) == (1_700_000_000, 250_000_000)
    assert out.connector.timeout_ms == 1500
    assert values.read(out, ci.response, "expires", mapping.TIMESTAMP) == 1_700_000_000.25
    assert ci.response.unused == ["deadline"]

    update = served.methods["Update"]
    element = update.response.records["instances"]
    assert element.enum_states["running"] == 2 and element.enum_states["timeout"] == 5
    lst = message_factory.GetMessageClass(update.method.output_type)()
    item = lst.items.add()
    values.write(item, element, "state", mapping.STATE, "deleting")
    assert item.status == 3
    # a value of the wrong type for its kind is refused, not written half
    with pytest.raises(TypeError, match="seconds"):
        values.write(out, ci.response, "connector.timeout", mapping.DURATION, "1.5")


def test_integer_durations_default_to_go_nanoseconds_and_times_to_unix_seconds(tmp_path):
    pool = pool_of(compile_proto("""syntax = "proto3"; package u;
        message M { int64 keepalive = 1; int64 expires = 2; double timeout = 3; string keepalive_text = 4; }""",
                                 tmp_path))
    desc = pool.FindMessageTypeByName("u.M")
    mm = mapping.map_message(desc, (mapping.Slot("k", ("keepalive",), mapping.DURATION),
                                    mapping.Slot("e", ("expires",), mapping.TIMESTAMP),
                                    mapping.Slot("t", ("timeout",), mapping.DURATION)), "M")
    msg = message_factory.GetMessageClass(desc)()
    values.write(msg, mm, "k", mapping.DURATION, 2.0)
    values.write(msg, mm, "e", mapping.TIMESTAMP, 1234.0)
    values.write(msg, mm, "t", mapping.DURATION, 0.5)
    assert (msg.keepalive, msg.expires, msg.timeout) == (2_000_000_000, 1234, 0.5)


def test_enum_without_a_state_is_a_problem(tmp_path):
    source = """syntax = "proto3"; package e;
      enum S { S_UNKNOWN = 0; S_RUNNING = 1; S_DELETED = 2; }
      message I { string id = 1; S state = 2; }
      message L { repeated I instances = 1; }
      message X { bytes config = 1; string id = 2; int32 max_size = 3; int32 delta = 4; int32 succeeded = 5; }
      service G { rpc Init(X) returns (X); rpc Update(X) returns (L); rpc Increase(X) returns (X); }"""
    problems = served_from(tmp_path, source).problems
    assert any("enum e.S has no value for creating, deleting, timeout" in p for p in problems)


@pytest.mark.parametrize("secret", ["hunter2-password", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"])
def test_raw_fields_show_shape_never_strings(secret):
    from fleeting_openstack.proto import fleeting_pb2

    request = fleeting_pb2.InitRequest(config=b'{"password":"x"}')
    request.settings.connector_config.password = secret
    request.settings.connector_config.protocol_port = 22
    text = rawfields.describe(request.SerializeToString())
    assert secret not in text and "hunter2" not in text and "password" not in text
    assert text.startswith("{1:text(16 bytes), 2:message(")
    assert "10:varint=22" in text and f"5:text({len(secret.encode())} bytes)" in text
    assert rawfields.describe(b"") == "{} (empty message)"
    assert rawfields.describe(b"\xff\xff").startswith("undecodable")


def test_service_uses_the_mapping_kinds_without_importing_it_before_the_handshake():
    from fleeting_openstack.contract import service

    for name in ("BOOL", "DURATION", "INT", "JSON", "KEY", "STATE", "STR", "STRLIST", "TIMESTAMP"):
        assert getattr(service, name) == getattr(mapping, name), name
