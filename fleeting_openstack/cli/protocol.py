"""``protocol [BINARY] [--json]``: the contract the plugin would serve for a runner.

Reads BINARY (default: ``gitlab-runner`` on PATH) exactly as the plugin reads
its parent at start-up, and prints where the contract came from, how every
field maps onto the plugin's model, every difference from the built-in
contract (fleeting's), and the ``.proto`` itself. The first thing to run when a
runner reports ``Unimplemented`` or cannot decode the plugin's answers.

Exit codes: 0 the runner's contract was found and every needed field maps;
1 problems (no contract found, so the built-in one would be served, or a
needed field cannot be mapped); 2 usage error or the binary cannot be read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import TypedDict

from google.protobuf.descriptor import FieldDescriptor

from fleeting_openstack.cli.usage import Formatter
from fleeting_openstack.contract import discovery, mapping, protofmt
from fleeting_openstack.contract.servedcontract import ServedContract

PROG = "fleeting-plugin-openstack protocol"
EPILOG = (
    "exit status:\n"
    "  0  the runner's contract was found and every field the plugin needs maps onto it\n"
    "  1  problems (listed under problems:): no contract found in BINARY, so the plugin would serve its\n"
    "     built-in one (fleeting's), or a needed field cannot be mapped\n"
    "  2  usage error, no gitlab-runner on PATH, or BINARY cannot be read"
)


class MethodRow(TypedDict):
    """A method the contract declares, and the plugin RPC it is served as (None: Unimplemented)."""

    name: str
    server_streaming: bool
    served_as: str | None


class RpcMapping(TypedDict):
    """How one plugin RPC maps onto the contract's method: slot -> field, per message."""

    method: str
    streamed: bool
    request: dict[str, str]
    response: dict[str, str]
    ignored: dict[str, list[str]]


class ProtocolReport(TypedDict):
    """What ``protocol`` prints (one JSON document with ``--json``)."""

    binary: str
    sha256: str
    embedded_files: int
    found: bool
    notes: list[str]
    service: str
    methods: list[MethodRow]
    mapping: dict[str, RpcMapping]
    problems: list[str]
    differences: list[str]
    proto: str


def _field_facts(mm: mapping.MessageMap) -> dict[str, str]:
    """slot -> ``name = number type`` of the field that carries it."""
    out: dict[str, str] = {}
    for key, leaf in mm.leaves.items():
        fd: FieldDescriptor = leaf.field
        kind = (
            fd.message_type.full_name
            if fd.message_type
            else fd.enum_type.full_name
            if fd.enum_type
            else mapping.TYPE_NAMES.get(fd.type, "?")
        )
        numbers = ".".join(str(f.number) for f in leaf.path)
        out[key] = f"{leaf.dotted} = {numbers} ({'repeated ' if fd.is_repeated else ''}{kind})"
    for key, sub in mm.records.items():
        out.update({f"{key}[].{k}": v for k, v in _field_facts(sub).items()})
    return out


def differences(found: ServedContract, builtin: ServedContract) -> list[str]:
    a, b = found.contract.service, builtin.contract.service
    diffs = []
    if a.file.package != b.file.package:
        diffs.append(f"package {a.file.package or '(none)'} (built-in: {b.file.package})")
    if a.name != b.name:
        diffs.append(f"service {a.name} (built-in: {b.name})")
    for rpc in mapping.RPCS:
        mine, theirs = found.methods.get(rpc), builtin.methods.get(rpc)
        if mine is None and theirs is not None:
            diffs.append(f"{rpc}: not declared by the runner (built-in declares it)")
            continue
        if mine is None or theirs is None:
            continue
        if mine.method.name != theirs.method.name:
            diffs.append(f"{rpc}: method named {mine.method.name}")
        if mine.streamed != theirs.streamed:
            diffs.append(
                f"{rpc}: {'server-streaming' if mine.streamed else 'unary'} response "
                f"(built-in: {'server-streaming' if theirs.streamed else 'unary'})"
            )
        for part in ("request", "response"):
            fa, fb = _field_facts(getattr(mine, part)), _field_facts(getattr(theirs, part))
            for key in sorted(set(fa) | set(fb)):
                if fa.get(key) != fb.get(key):
                    diffs.append(
                        f"{rpc} {part} {key}: {fa.get(key, 'not carried')} (built-in: {fb.get(key, 'not carried')})"
                    )
            unused = getattr(mine, part).unused
            if unused:
                diffs.append(f"{rpc} {part}: fields the plugin ignores: {', '.join(unused)}")
    return diffs


def report(path: str) -> ProtocolReport:
    candidate = discovery.read_source(path)
    contract = discovery.build(candidate.files, "binary", path, candidate.sha256)
    notes = []
    if contract is None:
        notes.append(
            f"{path}: no fleeting service among {len(candidate.files)} embedded .proto files; "
            "the plugin would serve its built-in contract (fleeting's)"
        )
        found = discovery.builtin()
        contract = discovery.Contract(service=found.service, origin="builtin", files=found.files, notes=tuple(notes))
    served = ServedContract.of(contract)
    builtin = ServedContract.of(discovery.builtin())
    return {
        "binary": path,
        "sha256": candidate.sha256,
        "embedded_files": len(candidate.files),
        "found": contract.origin != "builtin",
        "notes": notes,
        "service": contract.service.full_name,
        "methods": [
            {
                "name": m.name,
                "server_streaming": bool(m.server_streaming),
                "served_as": served.paths.get(f"/{contract.service.full_name}/{m.name}"),
            }
            for m in contract.service.methods
        ],
        "mapping": {
            rpc: {
                "method": mm.method.name,
                "streamed": mm.streamed,
                "request": _field_facts(mm.request),
                "response": _field_facts(mm.response),
                "ignored": {"request": mm.request.unused, "response": mm.response.unused},
            }
            for rpc, mm in served.methods.items()
            if rpc in mapping.MAPPED
        },
        # What the exit status says: no contract found is a problem too (the text and --json agree).
        "problems": ([] if contract.origin != "builtin" else notes) + list(served.problems),
        "differences": differences(served, builtin) if contract.origin != "builtin" else [],
        "proto": "\n".join(protofmt.render(f) for f in contract.files),
    }


def _text(doc: ProtocolReport) -> str:
    out = [
        f"binary:    {doc['binary']} (sha256 {doc['sha256'][:12]}, {doc['embedded_files']} embedded .proto files)",
        f"contract:  {doc['service']} "
        + ("(the runner's own)" if doc["found"] else "(built-in, fleeting's: none found)"),
    ]
    out += [f"note:      {n}" for n in doc["notes"]]
    out.append(
        "methods:   "
        + ", ".join(
            f"{m['name']}{' (stream)' if m['server_streaming'] else ''}"
            f"{'' if m['served_as'] in mapping.MAPPED else ' [Unimplemented]'}"
            for m in doc["methods"]
        )
    )
    out.append("problems:  " + ("none" if not doc["problems"] else ""))
    out += [f"  - {p}" for p in doc["problems"]]
    out.append("\nmapping (plugin model <- field = number (type)):")
    for rpc, m in doc["mapping"].items():
        out.append(f"  {rpc} -> {m['method']}{' (server stream)' if m['streamed'] else ''}")
        for part in ("request", "response"):
            for key, value in m[part].items():
                out.append(f"    {part:<8} {key:<34} {value}")
            if m["ignored"][part]:
                out.append(f"    {part:<8} ignored: {', '.join(m['ignored'][part])}")
    if doc["found"]:
        out.append("\ndifferences from the built-in contract (fleeting's):")
        out += [f"  - {d}" for d in doc["differences"]] or ["  none"]
    out += ["", ".proto:", doc["proto"]]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=Formatter,
        epilog=EPILOG,
        description=(
            "Print the fleeting contract the plugin would serve when started by BINARY "
            "(default: gitlab-runner on PATH): its source, the .proto, the field mapping "
            "and the differences from the built-in contract (fleeting's)."
        ),
    )
    parser.add_argument(
        "binary", nargs="?", metavar="BINARY", help="the runner's executable (or a FileDescriptorSet file)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    path = args.binary or shutil.which("gitlab-runner")
    if not path:
        sys.stderr.write(
            f"{PROG}: no gitlab-runner on PATH; name the runner's binary, e.g. `{PROG} /usr/bin/gitlab-runner`\n"
        )
        return 2
    try:
        doc = report(path)
    except OSError as exc:
        sys.stderr.write(f"{PROG}: cannot read {path}: {exc.strerror or exc}\n")
        return 2
    sys.stdout.write(json.dumps(doc, indent=2) + "\n" if args.json else _text(doc))
    return 0 if doc["found"] and not doc["problems"] else 1
