"""Which contract to serve: the runner's own, read from its executable.

Sources, in order:

1. ``FLEETING_OPENSTACK_PROTOCOL_FROM``: a Go binary, or a serialized
   ``FileDescriptorSet`` (``protoc --descriptor_set_out``), named by the operator;
2. the executable of the process that started the plugin (``/proc/<ppid>/exe``:
   the runner), skipping ancestors that run this same executable (a
   PyInstaller one-file build starts itself as its own child);
3. the built-in contract, fleeting's (``fleeting_openstack/proto/fleeting.proto``).

Among the descriptors of a source, the file whose service has the most of
Init/Update/Increase/Decrease/ConnectInfo wins (at least three; on a tie, the
package that mentions ``fleeting``). Its imports come from protobuf's own pool
(well-known types) or from the same source. A scan is cached per binary
(device, inode, size, mtime) under ``$XDG_CACHE_HOME/fleeting-plugin-openstack``,
with the binary's sha256 recorded, so a runner restart costs one ``stat``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import mmap
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError

from fleeting_openstack.contract import scan

log = logging.getLogger("fleeting_openstack.wire")

ENV_PROTOCOL_FROM = "FLEETING_OPENSTACK_PROTOCOL_FROM"
CORE_METHODS = ("Init", "Update", "Increase", "Decrease", "ConnectInfo")
MIN_SCORE = 3
_CACHE_VERSION = 1
#: Well-known types a contract may import; imported so protobuf's pool has them.
_WELL_KNOWN = ("any", "duration", "empty", "struct", "timestamp", "wrappers", "field_mask")


@dataclass(frozen=True)
class Contract:
    """A fleeting service to serve, and where it came from."""

    service: ServiceDescriptor
    #: "override", "parent" or "builtin".
    origin: str
    #: the file it was read from ("" for the built-in one).
    path: str = ""
    sha256: str = ""
    #: the chosen file and its non-well-known imports, as read.
    files: tuple[descriptor_pb2.FileDescriptorProto, ...] = ()
    #: why a source was passed over (for the log and the ``protocol`` command).
    notes: tuple[str, ...] = ()

    @property
    def file(self) -> FileDescriptor:
        return self.service.file


@dataclass
class _Candidate:
    files: list[descriptor_pb2.FileDescriptorProto] = field(default_factory=list)
    sha256: str = ""


def method_score(service: descriptor_pb2.ServiceDescriptorProto) -> int:
    names = {m.name.lower() for m in service.method}
    return sum(1 for wanted in CORE_METHODS if wanted.lower() in names)


def builtin() -> Contract:
    from fleeting_openstack.proto import fleeting_pb2

    service = fleeting_pb2.DESCRIPTOR.services_by_name["InstanceGroup"]
    proto = descriptor_pb2.FileDescriptorProto()
    fleeting_pb2.DESCRIPTOR.CopyToProto(proto)
    return Contract(service=service, origin="builtin", files=(proto,))


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    if not name.startswith("google/protobuf/"):
        return None
    import importlib

    for module in _WELL_KNOWN:
        importlib.import_module(f"google.protobuf.{module}_pb2")
    try:
        found = descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(proto)
    return proto


def choose(
    files: Sequence[descriptor_pb2.FileDescriptorProto],
) -> tuple[descriptor_pb2.FileDescriptorProto, descriptor_pb2.ServiceDescriptorProto] | None:
    """The file and service that look most like fleeting's InstanceGroup."""
    best: tuple[tuple[int, int], descriptor_pb2.FileDescriptorProto, descriptor_pb2.ServiceDescriptorProto] | None = (
        None
    )
    for proto in files:
        for service in proto.service:
            rank = (method_score(service), int("fleeting" in proto.package.lower()))
            if rank[0] >= MIN_SCORE and (best is None or rank > best[0]):
                best = (rank, proto, service)
    return (best[1], best[2]) if best else None


def build(
    files: Sequence[descriptor_pb2.FileDescriptorProto], origin: str, path: str, sha256: str, notes: Sequence[str] = ()
) -> Contract | None:
    """Resolve the chosen file's imports into a private pool; None if they cannot be."""
    chosen = choose(files)
    if chosen is None:
        return None
    proto, service = chosen
    by_name = {f.name: f for f in files}
    pool = descriptor_pool.DescriptorPool()
    added: list[descriptor_pb2.FileDescriptorProto] = []

    def add(name: str, stack: tuple[str, ...]) -> None:
        if name in stack:
            raise ValueError(f"import cycle through {name}")
        try:
            pool.FindFileByName(name)
            return
        except KeyError:
            pass
        source = _well_known(name) or by_name.get(name)
        if source is None:
            raise ValueError(f"{proto.name} imports {name}, which is not in {path or origin}")
        for dep in source.dependency:
            add(dep, (*stack, name))
        pool.Add(source)
        if not name.startswith("google/protobuf/"):
            added.append(source)

    try:
        add(proto.name, ())
        descriptor = pool.FindServiceByName(f"{proto.package}.{service.name}" if proto.package else service.name)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("contract found but unusable", extra={"path": path, "reason": str(exc)})
        return None
    return Contract(service=descriptor, origin=origin, path=path, sha256=sha256, files=tuple(added), notes=tuple(notes))


def cache_dir(env: Mapping[str, str]) -> Path | None:
    """``$XDG_CACHE_HOME`` (absolute, as the XDG spec wants) or ``~/.cache``; None without either."""
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no HOME and no passwd entry: run without a cache
            return None
    return Path(base) / "fleeting-plugin-openstack" / "contracts"


def _cache_key(st: os.stat_result) -> str:
    return f"v{_CACHE_VERSION}-{st.st_dev}-{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def _cache_read(path: Path) -> _Candidate | None:
    try:
        doc = json.loads(path.read_text())
        files = [descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(f)) for f in doc["files"]]
        return _Candidate(files=files, sha256=doc["sha256"])
    except (OSError, ValueError, KeyError, DecodeError):
        return None


def _cache_write(path: Path, candidate: _Candidate) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {
            "sha256": candidate.sha256,
            "files": [base64.b64encode(f.SerializeToString()).decode() for f in candidate.files],
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as out:
            json.dump(doc, out)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("contract cache not written", extra={"path": str(path), "reason": str(exc)})


def _read_descriptor_set(data: bytes) -> list[descriptor_pb2.FileDescriptorProto] | None:
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    except DecodeError:
        return None
    if fds.file and all(f.name.endswith(".proto") for f in fds.file):
        return list(fds.file)
    return None


def read_source(path: str, env: Mapping[str, str] | None = None) -> _Candidate:
    """Every descriptor in a Go binary or FileDescriptorSet file (cached per binary)."""
    env = os.environ if env is None else env
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        directory = cache_dir(env)
        cache = directory / (_cache_key(st) + ".json") if directory else None
        if cache is not None:
            hit = _cache_read(cache)
            if hit is not None:
                return hit
        if st.st_size == 0:
            return _Candidate()
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            digest = hashlib.sha256(data).hexdigest()
            files = None
            if data[:1] == b"\x0a" and st.st_size < 64 << 20:  # an ELF file starts 0x7f
                files = _read_descriptor_set(bytes(data))
            if files is None:
                files = [e.proto for e in scan.scan(data)]
    candidate = _Candidate(files=files, sha256=digest)
    if cache is not None:
        _cache_write(cache, candidate)
    return candidate


def _exe_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _parent_pid(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def parent_executable(pid: int | None = None) -> str | None:
    """``/proc/<ppid>/exe`` of the process that started the plugin; a frozen
    one-file build skips ancestors running its own executable (its bootloader)."""
    own = _exe_identity("/proc/self/exe") if getattr(sys, "frozen", False) else None
    current = os.getpid() if pid is None else pid
    for _ in range(4):
        parent = _parent_pid(current)
        if not parent or parent <= 1:
            return None
        exe = f"/proc/{parent}/exe"
        ident = _exe_identity(exe)
        if ident is None:
            return None
        if ident != own:
            return exe
        current = parent
    return None


def _describe(path: str) -> str:
    try:
        return os.readlink(path) if path.startswith("/proc/") else path
    except OSError:
        return path


def discover(env: Mapping[str, str] | None = None, parent_pid: int | None = None) -> Contract:
    """The contract to serve; never raises (the built-in one is the last resort)."""
    env = os.environ if env is None else env
    notes: list[str] = []
    sources: list[tuple[str, str]] = []
    override = env.get(ENV_PROTOCOL_FROM)
    if override:
        sources.append(("override", override))
    else:
        exe = parent_executable(parent_pid)
        if exe:
            sources.append(("parent", exe))
        else:
            notes.append("no parent executable could be read")
    for origin, path in sources:
        shown = _describe(path)
        try:
            candidate = read_source(path, env)
        except OSError as exc:
            notes.append(f"{origin} {shown}: cannot be read: {exc.strerror or exc}")
            continue
        contract = build(candidate.files, origin, shown, candidate.sha256, notes)
        if contract is not None:
            return contract
        notes.append(f"{origin} {shown}: no fleeting service among {len(candidate.files)} embedded .proto files")
    found = builtin()
    return Contract(service=found.service, origin="builtin", files=found.files, notes=tuple(notes))
