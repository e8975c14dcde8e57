"""Contracts that differ from the built-in one, for the plugin's discovery.

- :func:`compile_proto`: a ``.proto`` text -> a FileDescriptorSet file (protoc
  from grpcio-tools, with the well-known imports);
- :func:`random_variant`: a seeded variant of fleeting's contract: other
  package/service/message names, every field renumbered, camelCase or synonym
  names, Timestamp/Duration or integer units, Update unary or streamed, extra
  fields;
- :class:`PluginUnderTest`: the installed plugin started with the go-plugin
  environment (no AutoMTLS), the contract given by override, and a client
  whose messages come from the same descriptors.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

COOKIE = {"FLEETING_INSTANCE_GROUP_PLUGIN": "4c6410b1-cb78-4962-8c76-ab936d0ea908"}  # fleeting's
SUPPORT = str(Path(__file__).parent)


def compile_proto(source: str, directory: Path, name: str = "variant.proto") -> Path:
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    (directory / name).write_text(source)
    out = directory / (name + ".pb")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{directory}", f"-I{include}",
                    "--include_imports", f"--descriptor_set_out={out}", name],
                   check=True, capture_output=True, text=True, cwd=directory)
    return out


def pool_of(descriptor_set: Path) -> descriptor_pool.DescriptorPool:
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return pool


@dataclass
class Variant:
    source: str
    package: str
    service: str
    #: canonical name -> the name this variant uses (fields and methods).
    names: dict[str, str] = field(default_factory=dict)
    streamed_update: bool = False
    durations_are_messages: bool = False
    expires_is_message: bool = False
    state_is_enum: bool = False


_STYLES = ("snake", "camel", "synonym")


def _name(rng: random.Random, canonical: str, synonym: str | None = None) -> str:
    style = rng.choice(_STYLES)
    if style == "synonym" and synonym:
        return synonym
    if style == "camel":
        head, *rest = canonical.split("_")
        return head + "".join(p.title() for p in rest)
    return canonical


def random_variant(seed: int) -> Variant:
    """Every field renumbered (numbers 2-300, shuffled), names in random styles."""
    rng = random.Random(seed)
    pkg = f"v{seed}.{rng.choice(['acme', 'corp', 'fleet'])}.autoscale"
    svc = rng.choice(["Fleet", "Provider", "InstanceGroup", "Pool"])
    variant = Variant("", pkg, svc, streamed_update=rng.random() < 0.5)

    def fields(message: str, spec: list[tuple[str, str, str | None]]) -> str:
        numbers = rng.sample(range(2, 301), len(spec) + 1)
        lines = []
        for (canonical, typ, synonym), number in zip(spec, numbers):
            name = _name(rng, canonical, synonym)
            variant.names[f"{message}.{canonical}"] = name
            lines.append(f"  {typ} {name} = {number};")
        lines.append(f"  string extra_{rng.randint(1, 999)} = {numbers[-1]};")  # unknown to the plugin
        rng.shuffle(lines)
        return f"message {message} {{\n" + "\n".join(lines) + "\n}"

    duration = rng.choice(["google.protobuf.Duration", "int64"])
    stamp = rng.choice(["google.protobuf.Timestamp", "int64"])
    state_type = rng.choice(["string", "St"])
    update = ("rpc Update(UpdReq) returns (stream Inst);" if variant.streamed_update
              else "rpc Update(UpdReq) returns (UpdResp);")
    messages = [
        fields("Conn", [("os", "string", None), ("arch", "string", "architecture"),
                        ("protocol", "string", None), ("protocol_port", "int32", "port"),
                        ("username", "string", "user"), ("password", "string", None),
                        ("key", "bytes", "private_key"), ("use_static_credentials", "bool", None),
                        ("keepalive", duration, None), ("timeout", duration, None)]),
        fields("Sett", [("connector_config", "Conn", "connector")]),
        fields("InitReq", [("config", "bytes", "plugin_config"), ("settings", "Sett", None)]),
        fields("Info", [("id", "string", "provider_id"), ("max_size", "int32", "max_instances"),
                        ("version", "string", None), ("build_info", "string", None)]),
        fields("InitResp", [("info", "Info", "provider_info")]),
        fields("Inst", [("id", "string", "instance_id"), ("state", state_type, "status")]),
        fields("UpdResp", [("instances", "repeated Inst", None)]),
        fields("IncReq", [("delta", "int32", "count")]),
        fields("IncResp", [("succeeded", "int32", None), ("error", "string", None)]),
        fields("DecReq", [("instances", "repeated string", "instance_ids")]),
        fields("DecResp", [("succeeded", "repeated string", None), ("error", "string", None)]),
        fields("CiReq", [("id", "string", "instance_id")]),
        fields("CiResp", [("connector_config", "Conn", "connector"), ("id", "string", "instance_id"),
                          ("internal_addr", "string", "internal_address"),
                          ("external_addr", "string", "external_address"), ("expires", stamp, None)]),
        fields("HbReq", [("id", "string", "instance_id")]),
    ]
    variant.source = "\n".join([
        'syntax = "proto3";', f"package {pkg};", 'import "google/protobuf/timestamp.proto";',
        'import "google/protobuf/duration.proto";',
        "enum St { ST_UNSPECIFIED = 0; ST_CREATING = 1; ST_RUNNING = 2; ST_DELETING = 3; "
        "ST_DELETED = 4; ST_TIMEOUT = 5; }",
        *messages, "message UpdReq {}", "message Empty {}",
        f"service {svc} {{", "  rpc Init(InitReq) returns (InitResp);", f"  {update}",
        "  rpc Increase(IncReq) returns (IncResp);", "  rpc Decrease(DecReq) returns (DecResp);",
        "  rpc ConnectInfo(CiReq) returns (CiResp);", "  rpc Heartbeat(HbReq) returns (Empty);",
        "  rpc Shutdown(Empty) returns (Empty);", "}", ""])
    variant.durations_are_messages = duration != "int64"
    variant.expires_is_message = stamp != "int64"
    variant.state_is_enum = state_type == "St"
    return variant


class PluginUnderTest:
    """The installed plugin, started as go-plugin's client starts it (plain unix socket)."""

    def __init__(self, binary: str, workdir: Path, env: dict[str, str] | None = None,
                 provider: str | None = "memory_provider:MemoryProvider") -> None:
        full = dict(os.environ, PYTHONPATH=SUPPORT, PLUGIN_UNIX_SOCKET_DIR=str(workdir),
                    PLUGIN_PROTOCOL_VERSIONS="1", PLUGIN_MIN_PORT="10000", PLUGIN_MAX_PORT="25000",
                    FLEETING_OPENSTACK_LOG_LEVEL="debug", XDG_CACHE_HOME=str(workdir / "cache"))
        full.update(COOKIE)
        full.update(env or {})
        if provider:
            full["FLEETING_OPENSTACK_PROVIDER"] = provider
        self.proc = subprocess.Popen([binary], env=full, cwd=workdir, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.handshake = self.proc.stdout.readline().rstrip("\n")  # type: ignore[union-attr]
        assert self.handshake, self.proc.stderr.read()  # type: ignore[union-attr]
        self.channel = grpc.insecure_channel("unix:" + self.handshake.split("|")[3])

    def call(self, pool: descriptor_pool.DescriptorPool, service: str, method: str,
             request: dict[str, Any] | None = None, stream: bool = False) -> Any:
        m = pool.FindServiceByName(service).methods_by_name[method]
        req_cls = message_factory.GetMessageClass(m.input_type)
        resp_cls = message_factory.GetMessageClass(m.output_type)
        path = f"/{service}/{method}"
        if stream:
            rpc = self.channel.unary_stream(path, request_serializer=req_cls.SerializeToString,
                                            response_deserializer=resp_cls.FromString)
            return list(rpc(req_cls(**(request or {})), timeout=30))
        rpc = self.channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                       response_deserializer=resp_cls.FromString)
        return rpc(req_cls(**(request or {})), timeout=30)

    def raw(self, path: str, payload: bytes) -> grpc.RpcError | bytes:
        rpc = self.channel.unary_unary(path)
        try:
            return rpc(payload, timeout=30)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            return exc

    def stop(self) -> str:
        """Terminate; the plugin's stderr (hclog JSON lines)."""
        self.channel.close()
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err
