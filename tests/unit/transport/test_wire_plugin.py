"""The installed plugin serving contracts other than its own, as a process.

Contracts come by override here (FLEETING_OPENSTACK_PROTOCOL_FROM) so that
many can be tried per run; discovery through the parent's executable is
proven by the Go variant hosts (tests/conformance/test_contract_variants.py).
Random variants: FLEETING_WIRE_SEED fixes the first seed (else it is drawn
and printed on failure), four seeds per run.
"""

from __future__ import annotations

import json
import os
import random

import grpc
import pytest

from fleeting_openstack.transport import goplugin

from wirecontract import PluginUnderTest, compile_proto, pool_of, random_variant  # noqa: E402
from installed import plugin_executable

BASE_SEED = int(os.environ.get("FLEETING_WIRE_SEED") or random.SystemRandom().randrange(1, 10**6))


def entries(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("offset", range(4))
def test_random_renumbered_contract_whole_lifecycle(tmp_path, offset):
    seed = BASE_SEED + offset
    variant = random_variant(seed)
    contract = compile_proto(variant.source, tmp_path)
    pool = pool_of(contract)
    svc = f"{variant.package}.{variant.service}"
    n = variant.names
    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_OPENSTACK_PROTOCOL_FROM": str(contract)})
    why = f"seed {seed} (FLEETING_WIRE_SEED={seed} reproduces it)\n{variant.source}"
    try:
        conn = {n["Conn.username"]: "core", n["Conn.password"]: "pw", n["Conn.key"]: b"KEY",
                n["Conn.protocol_port"]: 2222, n["Conn.use_static_credentials"]: True}
        settings = {n["Sett.connector_config"]: conn}
        init = plugin.call(pool, svc, "Init", {n["InitReq.config"]: b'{"name": "r", "max_size": 3, '
                                                                    b'"expires": 1800000000}',
                                               n["InitReq.settings"]: settings})
        info = getattr(init, n["InitResp.info"])
        assert getattr(info, n["Info.id"]) == "memory/r", why
        assert getattr(info, n["Info.max_size"]) == 3, why

        grown = plugin.call(pool, svc, "Increase", {n["IncReq.delta"]: 5})
        assert getattr(grown, n["IncResp.succeeded"]) == 3, why  # partial: max_size 3
        assert "max_size 3 reached" in getattr(grown, n["IncResp.error"]), why

        def states() -> dict[str, object]:
            if variant.streamed_update:
                items = plugin.call(pool, svc, "Update", stream=True)
            else:
                items = list(getattr(plugin.call(pool, svc, "Update"), n["UpdResp.instances"]))
            return {getattr(i, n["Inst.id"]): getattr(i, n["Inst.state"]) for i in items}

        first = states()
        assert sorted(first) == ["mem-1", "mem-2", "mem-3"], why
        assert set(first.values()) == ({1} if variant.state_is_enum else {"creating"}), why
        assert set(states().values()) == ({2} if variant.state_is_enum else {"running"}), why

        ci = plugin.call(pool, svc, "ConnectInfo", {n["CiReq.id"]: "mem-2"})
        assert getattr(ci, n["CiResp.id"]) == "mem-2", why
        assert getattr(ci, n["CiResp.internal_addr"]) == "192.0.2.10", why
        back = getattr(ci, n["CiResp.connector_config"])
        assert (getattr(back, n["Conn.username"]), getattr(back, n["Conn.key"]),
                getattr(back, n["Conn.protocol_port"])) == ("core", b"KEY", 2222), why
        expires = getattr(ci, n["CiResp.expires"])
        assert (expires.seconds if variant.expires_is_message else expires) == 1800000000, why

        plugin.call(pool, svc, "Heartbeat", {n["HbReq.id"]: "mem-2"})
        with pytest.raises(grpc.RpcError) as unhealthy:
            plugin.call(pool, svc, "Heartbeat", {n["HbReq.id"]: "mem-404"})
        assert "instance unhealthy" in unhealthy.value.details(), why

        shrunk = plugin.call(pool, svc, "Decrease", {n["DecReq.instances"]: ["mem-1", "mem-404"]})
        assert list(getattr(shrunk, n["DecResp.succeeded"])) == ["mem-1"], why
        assert "mem-404" in getattr(shrunk, n["DecResp.error"]), why
        plugin.call(pool, svc, "Shutdown")
    finally:
        logs = entries(plugin.stop())
    served = [e for e in logs if e["@message"] == "serving the runner's contract"]
    assert len(served) == 1 and served[0]["service"] == svc and served[0]["origin"] == "override", why
    ignored = [e for e in logs if e["@message"] == "fields the plugin does not use"]
    assert any(any(f.startswith("extra_") for f in e["fields"]) for e in ignored), why


UNKNOWN_METHODS = """syntax = "proto3"; package extra.v1;
message Req { bytes config = 1; string id = 2; int32 delta = 3; repeated string instances = 4; }
message Resp { string id = 1; int32 max_size = 2; int32 succeeded = 3; }
message I { string id = 1; string state = 2; }
message L { repeated I instances = 1; }
service Group {
  rpc Init(Req) returns (Resp); rpc Update(Req) returns (L); rpc Increase(Req) returns (Resp);
  rpc Frobnicate(Req) returns (Resp); rpc Suspend(Req) returns (Resp);
}
"""


def test_unknown_and_undeclared_methods_answer_unimplemented_and_log_the_shape_once(tmp_path):
    contract = compile_proto(UNKNOWN_METHODS, tmp_path)
    pool = pool_of(contract)
    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_OPENSTACK_PROTOCOL_FROM": str(contract)})
    secret = "s3cr3t-value-that-must-not-appear"
    try:
        assert plugin.call(pool, "extra.v1.Group", "Init", {"config": b'{"name":"u"}'}).id == "memory/u"
        for method in ("Frobnicate", "Suspend"):  # declared, not served
            with pytest.raises(grpc.RpcError) as err:
                plugin.call(pool, "extra.v1.Group", method)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert f"/extra.v1.Group/{method}" in err.value.details()
        # the built-in contract's path: not declared by this runner's contract
        payload = b"\x0a" + bytes([len(secret)]) + secret.encode() + b"\x18\x07"
        for _ in range(3):
            answer = plugin.raw("/fleeting.plugin.v1.InstanceGroup/Init", payload)
            assert isinstance(answer, grpc.RpcError) and answer.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "/fleeting.plugin.v1.InstanceGroup/Init" in answer.details()
            assert "extra.v1.Group" in answer.details()
        # Heartbeat is not declared at all: never served, whatever the path
        answer = plugin.raw("/extra.v1.Group/Heartbeat", b"")
        assert isinstance(answer, grpc.RpcError) and answer.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        stderr = plugin.stop()
    assert secret not in stderr
    logged = [e for e in entries(stderr) if e["@message"] == "the runner called a method this plugin does not serve"]
    assert [e["method"] for e in logged] == ["/fleeting.plugin.v1.InstanceGroup/Init",
                                             "/extra.v1.Group/Heartbeat"]  # once per method
    assert logged[0]["@level"] == "error"
    assert logged[0]["request"] == f"{{1:text({len(secret)} bytes), 3:varint=7}}"


def test_unmappable_contract_fails_init_readably(tmp_path):
    source = UNKNOWN_METHODS.replace("int32 delta = 3;", "int32 alpha = 3; int32 beta = 5;")
    contract = compile_proto(source, tmp_path)
    pool = pool_of(contract)
    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_OPENSTACK_PROTOCOL_FROM": str(contract)})
    try:
        with pytest.raises(grpc.RpcError) as err:
            plugin.call(pool, "extra.v1.Group", "Init", {"config": b'{"name":"u"}'})
        details = err.value.details()
        assert details.startswith("Init: the runner's contract (extra.v1.Group from ")
        assert "Increase request: no field for delta" in details
        assert "int32 alpha = 3" in details and "fleeting-plugin-openstack protocol" in details
    finally:
        plugin.stop()


def test_non_go_override_serves_the_builtin_contract_with_a_warning(tmp_path):
    from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc

    text = tmp_path / "plain.txt"
    text.write_text("hello\n")
    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_OPENSTACK_PROTOCOL_FROM": str(text)})
    try:
        stub = fleeting_pb2_grpc.InstanceGroupStub(plugin.channel)
        assert stub.Init(fleeting_pb2.InitRequest(config=b'{"name":"b"}'), timeout=30).id == "memory/b"
    finally:
        logs = entries(plugin.stop())
    warned = [e for e in logs if e["@level"] == "warn" and "serving the built-in one (fleeting's)" in e["@message"]]
    assert warned and str(text) in warned[0]["why"]


def test_cookie_is_not_required_from_a_goplugin_host_but_a_person_gets_the_message(tmp_path):
    from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc

    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_INSTANCE_GROUP_PLUGIN": "something-else",
                                                      "ACME_MAGIC": "acme"})
    try:
        stub = fleeting_pb2_grpc.InstanceGroupStub(plugin.channel)
        assert stub.Init(fleeting_pb2.InitRequest(config=b'{"name":"c"}'), timeout=30).id == "memory/c"
    finally:
        logs = entries(plugin.stop())
    seen = [e for e in logs if e["@message"].startswith("magic cookie differs")]
    assert seen and seen[0]["@level"] == "debug" and seen[0]["seen"]["FLEETING_INSTANCE_GROUP_PLUGIN"] == "something-else"

    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGIN_") and k != "FLEETING_INSTANCE_GROUP_PLUGIN"}
    import subprocess

    for partial in ({}, {"PLUGIN_PROTOCOL_VERSIONS": "1"}):  # not a go-plugin host without the port range
        proc = subprocess.run([plugin_executable()], env={**env, **partial}, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1 and proc.stdout == ""
        # go-plugin's own words, then the pointer at --help (issue 12)
        assert proc.stderr.splitlines()[0] == goplugin.NOT_A_PROGRAM and "--help" in proc.stderr.splitlines()[1]


def run_protocol(*args: str, path: str | None = None) -> "subprocess.CompletedProcess[str]":
    import subprocess

    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([plugin_executable(), "protocol", *args], env=env, capture_output=True, text=True, timeout=60)


def test_protocol_command_shows_source_mapping_differences_and_proto(tmp_path):
    variant = random_variant(BASE_SEED)
    contract = compile_proto(variant.source, tmp_path)
    runner = tmp_path / "bin" / "gitlab-runner"  # found on PATH when no BINARY is given
    runner.parent.mkdir()
    runner.write_bytes(contract.read_bytes())
    runner.chmod(0o755)
    done = run_protocol(path=f"{runner.parent}:{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    svc = f"{variant.package}.{variant.service}"
    assert f"contract:  {svc} (the runner's own)" in done.stdout
    assert f"package {variant.package} (built-in: proto)" in done.stdout
    assert (f"service {variant.service} (built-in: InstanceGroup)" in done.stdout) == (
        variant.service != "InstanceGroup")
    assert ("Update: unary response (built-in: server-streaming)" in done.stdout) == (not variant.streamed_update)
    assert f"request  delta" in done.stdout and f"rpc Increase(" in done.stdout

    as_json = json.loads(run_protocol(str(contract), "--json").stdout)
    assert as_json["service"] == svc and as_json["found"] and as_json["problems"] == []
    assert as_json["mapping"]["Increase"]["request"]["delta"].startswith(variant.names["IncReq.delta"] + " = ")
    assert f"package {variant.package};" in as_json["proto"]


def test_protocol_command_exit_codes(tmp_path):
    missing = run_protocol(path=str(tmp_path))
    assert missing.returncode == 2 and "no gitlab-runner on PATH" in missing.stderr
    assert run_protocol(str(tmp_path / "absent")).returncode == 2
    plain = tmp_path / "plain"
    plain.write_text("x")
    none = run_protocol(str(plain))
    assert none.returncode == 1 and "built-in, fleeting's: none found" in none.stdout
    odd = compile_proto(UNKNOWN_METHODS.replace("int32 delta = 3;", "int32 alpha = 3; int32 beta = 5;"), tmp_path)
    unmappable = run_protocol(str(odd))
    assert unmappable.returncode == 1 and "Increase request: no field for delta" in unmappable.stdout
    assert run_protocol("--help").returncode == 0


def test_partial_increase_is_answered_ok_with_the_count_and_nothing_made_is_an_error(tmp_path):
    # fleeting's Go client keeps Increase's response only when the status is OK
    # (instance_group_client.go: `if resp != nil`), so a partial create must be OK
    # with what exists, and a create of which nothing was made an error naming why.
    from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc

    plugin = PluginUnderTest(plugin_executable(), tmp_path, {"FLEETING_OPENSTACK_PROTOCOL_FROM": "/nonexistent"})
    try:
        stub = fleeting_pb2_grpc.InstanceGroupStub(plugin.channel)
        stub.Init(fleeting_pb2.InitRequest(config=b'{"name":"p","max_size":2}'), timeout=30)
        assert stub.Increase(fleeting_pb2.IncreaseRequest(n=5), timeout=30).succeeded == 2
        with pytest.raises(grpc.RpcError) as full:
            stub.Increase(fleeting_pb2.IncreaseRequest(n=1), timeout=30)
        assert full.value.code() == grpc.StatusCode.UNKNOWN
        assert "max_size 2 reached" in full.value.details()
        ids = [u.instance for u in stub.Update(fleeting_pb2.Empty(), timeout=30)]
        assert len(ids) == 2  # what the runner counted (2) is what exists
    finally:
        logs = entries(plugin.stop())
    partly = [e for e in logs if e["@message"].startswith("Increase partly done: ")]
    assert partly and partly[0]["@level"] == "warn" and "max_size 2 reached" in partly[0]["@message"]
