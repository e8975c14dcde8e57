#!/usr/bin/env python3
"""Start-up cost of the plugin process, as the runner pays it.

Prints, over N runs (default 20): time from exec to the go-plugin handshake
line (median, p95), resident memory after Init, and the same figures for
``python3 -c pass`` as the floor any Python plugin pays. Uses the in-memory
test provider unless --plugin-config names a real plugin_config (then Init
talks to that cloud, e.g. the devcloud).

    python3 bench/handshake.py [--runs 20] [--bin PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from fleeting_openstack import cli  # noqa: E402
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one_plugin_run(binary: str, plugin_config: bytes | None) -> tuple[float, int]:
    env = dict(os.environ, PLUGIN_PROTOCOL_VERSIONS="1", **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    if plugin_config is None:
        env.update(PYTHONPATH=str(ROOT / "tests" / "support"),
                   FLEETING_OPENSTACK_PROVIDER="memory_provider:MemoryProvider")
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    addr = line.split("|")[3]
    with grpc.insecure_channel("unix:" + addr) as channel:
        fleeting_pb2_grpc.InstanceGroupStub(channel).Init(
            fleeting_pb2.InitRequest(config=plugin_config or b'{"name":"bench"}'), timeout=60)
        rss = rss_kib(proc.pid)
    proc.terminate()
    proc.wait(timeout=10)
    return elapsed, rss


def baseline_run() -> tuple[float, int]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started, 0


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bin", default=shutil.which("fleeting-plugin-openstack"))
    parser.add_argument("--plugin-config", help="a plugin_config JSON file: Init the OpenStack provider "
                        "with it (RSS then includes openstacksdk); default: the in-memory test provider")
    args = parser.parse_args()
    if not args.bin:
        parser.error("fleeting-plugin-openstack not on PATH; pass --bin")
    config = Path(args.plugin_config).read_bytes() if args.plugin_config else None
    plugin = [one_plugin_run(args.bin, config) for _ in range(args.runs)]
    base = [baseline_run() for _ in range(args.runs)]
    p_med, p_95 = summary([t for t, _ in plugin])
    b_med, b_95 = summary([t for t, _ in base])
    rss = statistics.median([r for _, r in plugin])
    print(f"runs: {args.runs}  binary: {args.bin}  provider: "
          f"{'openstack (' + args.plugin_config + ')' if config else 'in-memory test provider'}")
    print(f"exec -> handshake   median {p_med * 1000:7.1f} ms   p95 {p_95 * 1000:7.1f} ms")
    print(f"python3 -c pass     median {b_med * 1000:7.1f} ms   p95 {b_95 * 1000:7.1f} ms")
    print(f"ratio (median)      {p_med / b_med:7.2f}x the interpreter floor")
    print(f"RSS after Init      median {rss / 1024:7.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
