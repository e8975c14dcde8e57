"""Finding the runner's contract: the scan, the choice, imports, the cache, the sources."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from fleeting_openstack.proto import fleeting_pb2, goplugin_pb2, health_pb2
from fleeting_openstack.contract import discovery, scan

def serialized(module) -> bytes:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto.SerializeToString()


def noise(rng: random.Random, size: int) -> bytes:
    junk = bytearray(rng.randbytes(size))
    # things that look like the start of a descriptor and are not
    for text in (b"\x0a\x0bbroken.proto\xff\xff", b"see google/protobuf/any.proto", b"\x0a\x05x.proto"):
        at = rng.randrange(0, size - len(text))
        junk[at:at + len(text)] = text
    return bytes(junk)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scan_finds_every_descriptor_between_noise_and_back_to_back(seed):
    rng = random.Random(seed)
    fleeting, health, goplugin = serialized(fleeting_pb2), serialized(health_pb2), serialized(goplugin_pb2)
    # back to back (as Go's rodata may place them), and followed by bytes that parse as fields
    blob = noise(rng, 5000) + fleeting + health + b"\x1a\x03abc" + noise(rng, 3000) + goplugin + noise(rng, 100)
    found = scan.scan(blob)
    assert [e.raw for e in found] == [fleeting, health, goplugin]
    assert found[0].proto.package == "proto"
    assert blob[found[1].offset:found[1].offset + len(health)] == health


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.99])
def test_cut_off_descriptor_never_yields_a_contract(fraction):
    fleeting = serialized(fleeting_pb2)
    found = scan.scan(b"xx" + fleeting[: int(len(fleeting) * fraction)] + b"\xff" * 10)
    assert all(len(e.raw) < len(fleeting) for e in found)
    assert discovery.choose([e.proto for e in found]) is None


def _file(name: str, package: str, methods: list[str]) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    proto.message_type.add(name="M")
    service = proto.service.add(name="S")
    for method in methods:
        service.method.add(name=method, input_type=f".{package}.M", output_type=f".{package}.M")
    return proto


def test_choice_most_core_methods_then_fleeting_package():
    three = _file("a.proto", "other.v1", ["Init", "Update", "Increase"])
    four = _file("b.proto", "other.v2", ["Init", "Update", "Increase", "Decrease"])
    four_fleeting = _file("c.proto", "x.fleeting.v1", ["Init", "Update", "Increase", "Decrease"])
    two = _file("d.proto", "fleeting", ["Init", "Update"])
    assert discovery.choose([three, four])[0].name == "b.proto"
    assert discovery.choose([four, four_fleeting, three])[0].name == "c.proto"
    assert discovery.choose([two]) is None  # fewer than three core methods: not a fleeting service


def test_imports_resolved_from_protobuf_and_the_same_binary_or_refused():
    dep = descriptor_pb2.FileDescriptorProto(name="dep.proto", package="dep", syntax="proto3")
    dep.message_type.add(name="Req")
    main = _file("main.proto", "svc", ["Init", "Update", "Increase"])
    main.dependency.extend(["dep.proto", "google/protobuf/timestamp.proto"])
    main.service[0].method[0].input_type = ".dep.Req"
    contract = discovery.build([main, dep], "override", "x", "")
    assert contract is not None and contract.service.full_name == "svc.S"
    assert contract.service.methods_by_name["Init"].input_type.full_name == "dep.Req"
    assert [f.name for f in contract.files] == ["dep.proto", "main.proto"]
    assert discovery.build([main], "override", "x", "") is None  # dep.proto missing


def test_descriptor_set_override_and_cache(tmp_path):
    fds = descriptor_pb2.FileDescriptorSet()
    fds.file.add().ParseFromString(serialized(fleeting_pb2))
    path = tmp_path / "contract.pb"
    path.write_bytes(fds.SerializeToString())
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), discovery.ENV_PROTOCOL_FROM: str(path)}
    contract = discovery.discover(env)
    assert contract.origin == "override" and contract.service.full_name == "proto.InstanceGroup"
    assert len(contract.sha256) == 64
    assert list((tmp_path / "cache" / "fleeting-plugin-openstack" / "contracts").iterdir())
    # a second start reads the cache, not the file's contents: the same file (inode, size, mtime)
    # overwritten in place with bytes that hold no contract still gives the cached one
    original, st = path.read_bytes(), path.stat()
    with open(path, "r+b") as handle:
        handle.write(b"\0" * len(original))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    cached = discovery.discover(env)
    assert cached.origin == "override" and cached.sha256 == contract.sha256
    assert discovery.read_source(str(path), env).files
    # a changed file (new mtime) is read again: its zeros hold no contract
    os.utime(path, ns=(1, 1))
    assert not discovery.read_source(str(path), env).files
    path.write_bytes(original)
    os.utime(path, ns=(2, 2))
    assert discovery.read_source(str(path), env).files


def test_non_go_override_falls_back_to_builtin_with_the_reason(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a Go binary\n")
    contract = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(text), "XDG_CACHE_HOME": str(tmp_path)})
    assert contract.origin == "builtin"
    assert any(str(text) in note and "no fleeting service" in note for note in contract.notes)
    missing = discovery.discover({discovery.ENV_PROTOCOL_FROM: str(tmp_path / "nope")})
    assert missing.origin == "builtin" and "cannot be read" in missing.notes[0]


def test_parent_executable_is_the_process_that_started_us():
    assert discovery.parent_executable() == f"/proc/{os.getppid()}/exe"


def test_cache_location_follows_xdg_and_survives_a_missing_home(monkeypatch):
    assert discovery.cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/fleeting-plugin-openstack/contracts")
    monkeypatch.setenv("HOME", "/home/runner")
    assert discovery.cache_dir({"XDG_CACHE_HOME": "relative"}) == Path(
        "/home/runner/.cache/fleeting-plugin-openstack/contracts")

    def no_home():
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert discovery.cache_dir({}) is None
