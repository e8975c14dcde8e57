#!/usr/bin/env python3
"""What the plugin process imports before the go-plugin handshake line, and
between the handshake and the end of Init (``python -X importtime``).

Runs the installed plugin binary with PYTHONPROFILEIMPORTTIME=1, Inits the
OpenStack provider against bench/novastub.py (N servers, default 50) and
prints, per phase, the total import time and the top-level imports by
cumulative time; RSS after Init is printed too.

    python3 bench/importprofile.py [--bin PATH] [--top 15] [--servers 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from handshake import rss_kib, stand_in  # noqa: E402
from fleeting_openstack.cli import main as cli  # noqa: E402
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc  # noqa: E402


def parse(lines: list[str]) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) per importtime line."""
    out = []
    for line in lines:
        if line.startswith("{"):  # after hclog takes over stderr, stray lines arrive wrapped in JSON
            try:
                line = json.loads(line).get("@message", "")
            except ValueError:
                continue
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:"):].split("|")
        mod = parts[2].rstrip("\n")
        depth = (len(mod) - len(mod.lstrip(" "))) // 2
        out.append((int(parts[0]), int(parts[1]), depth, mod.strip()))
    return out


def report(title: str, rows: list[tuple[int, int, int, str]], top: int) -> None:
    total = sum(r[0] for r in rows)
    print(f"\n{title}: {len(rows)} modules, {total / 1000:.1f} ms of imports (self time summed)")
    children: dict[str, list] = {}
    pending: list = []
    for r in rows:  # importtime lists a module's imports before the module itself
        if r[2] == 0:
            children[r[3]] = [c for c in pending if c[2] == 1]
            pending = []
        else:
            pending.append(r)
    tops = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:top]
    for i, (self_us, cum, _, mod) in enumerate(tops):
        print(f"  {cum / 1000:7.1f} ms  {mod}")
        if i < 2:  # what the two heaviest pull in
            for c in sorted(children.get(mod, []), key=lambda c: -c[1])[:6]:
                print(f"      {c[1] / 1000:7.1f} ms  {c[3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=shutil.which("fleeting-plugin-openstack"))
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--servers", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fleeting-bench-"))
    config = stand_in(args.servers, workdir)
    err_path = workdir / "stderr"
    env = dict(os.environ, PLUGIN_PROTOCOL_VERSIONS="0", PYTHONPROFILEIMPORTTIME="1",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    with open(err_path, "w") as err:
        proc = subprocess.Popen([args.bin], env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        line = proc.stdout.readline()
        with grpc.insecure_channel("unix:" + line.split("|")[3]) as channel:
            fleeting_pb2_grpc.InstanceGroupStub(channel).Init(fleeting_pb2.InitRequest(config=config), timeout=60)
            rss = rss_kib(proc.pid)
        proc.terminate()
        proc.wait(timeout=10)
    lines = err_path.read_text().splitlines()
    # the plugin marks the handshake in the same stream as the import lines (goplugin.MARK_HANDSHAKE)
    marks = [i for i, raw in enumerate(lines) if "go-plugin handshake line" in raw]
    assert marks, "the plugin did not mark its handshake line (PYTHONPROFILEIMPORTTIME not passed?)"
    before, after = lines[:marks[0]], lines[marks[0] + 1:]
    report("before the handshake line", parse(before), args.top)
    report("after the handshake, until Init returned", parse(after), args.top)
    print(f"\nRSS after Init ({args.servers} servers): {rss / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
