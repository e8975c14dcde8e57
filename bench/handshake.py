#!/usr/bin/env python3
"""Start-up cost of the plugin process, as the runner pays it.

Prints, over N runs (default 20): time from exec to the go-plugin handshake
line (median, p95), resident memory after Init, and the same figures for
``python3 -c pass`` as the floor any Python plugin pays. Uses the in-memory
test provider unless --plugin-config names a real plugin_config (then Init
talks to that cloud, e.g. the devcloud) or --stand-in N is given: then the
OpenStack provider is Init'ed against bench/novastub.py holding N servers of
the group, and RSS is also taken after the first Update (the group's view).

    python3 bench/handshake.py [--runs 20] [--bin PATH] [--stand-in 50]
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
from fleeting_openstack.cli import main as cli  # noqa: E402
from fleeting_openstack.proto import fleeting_pb2, fleeting_pb2_grpc  # noqa: E402


#: RSS after Init the plugin is meant to stay under, Init'ed against the stand-in with 50 servers
RSS_GOAL_MIB = 60
#: exec -> handshake median the plugin is meant to stay under (ms)
HANDSHAKE_GOAL_MS = 60


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def one_plugin_run(binary: str, plugin_config: bytes | None, update: bool = False) -> tuple[float, int, int]:
    env = dict(os.environ, PLUGIN_PROTOCOL_VERSIONS="0", **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    if plugin_config is None:
        env.update(PYTHONPATH=str(ROOT / "tests" / "support"),
                   FLEETING_OPENSTACK_PROVIDER="memory_provider:MemoryProvider")
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    addr = line.split("|")[3]
    with grpc.insecure_channel("unix:" + addr) as channel:
        stub = fleeting_pb2_grpc.InstanceGroupStub(channel)
        stub.Init(fleeting_pb2.InitRequest(config=plugin_config or b'{"name":"bench"}'), timeout=60)
        rss = rss_kib(proc.pid)
        rss_update = 0
        if update:
            list(stub.Update(fleeting_pb2.Empty(), timeout=60))
            rss_update = rss_kib(proc.pid)
    proc.terminate()
    proc.wait(timeout=10)
    return elapsed, rss, rss_update


def stand_in(servers: int, workdir: Path) -> bytes:
    """bench/novastub.py in this process, holding ``servers`` servers of group "bench"."""
    import json
    import threading

    sys.path.insert(0, str(ROOT / "bench"))
    import novastub
    from scale import GROUP, plugin_config
    from fleeting_openstack.config.identity import group_tag

    server, world = novastub.serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (workdir / "clouds.yaml").write_text(novastub.clouds_yaml(server.server_address[1]))
    now = time.time()
    for i in range(servers):
        world.add(f"{GROUP}-{i + 1}", [group_tag(GROUP)], {"fleeting-cluster": GROUP, "fleeting-index": str(i + 1)},
                  created=now - 3600, active_at=now - 3500)
    return json.dumps(plugin_config(workdir)).encode()


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
    parser.add_argument("--stand-in", type=int, metavar="N",
                        help="Init the OpenStack provider against bench/novastub.py holding N servers")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if not args.bin:
        parser.error("fleeting-plugin-openstack not on PATH; pass --bin")
    config = Path(args.plugin_config).read_bytes() if args.plugin_config else None
    if args.stand_in is not None:
        import tempfile

        config = stand_in(args.stand_in, Path(tempfile.mkdtemp(prefix="fleeting-bench-")))
        args.plugin_config = f"bench/novastub.py stand-in, {args.stand_in} servers"
    update = args.stand_in is not None
    plugin = [one_plugin_run(args.bin, config, update) for _ in range(args.runs)]
    base = [baseline_run() for _ in range(args.runs)]
    p_med, p_95 = summary([t for t, _, _ in plugin])
    b_med, b_95 = summary([t for t, _ in base])
    rss = statistics.median([r for _, r, _ in plugin])
    print(f"runs: {args.runs}  binary: {args.bin}  provider: "
          f"{'openstack (' + args.plugin_config + ')' if config else 'in-memory test provider'}")
    print(f"exec -> handshake   median {p_med * 1000:7.1f} ms   p95 {p_95 * 1000:7.1f} ms"
          f"   (goal: median <= {HANDSHAKE_GOAL_MS} ms)")
    print(f"python3 -c pass     median {b_med * 1000:7.1f} ms   p95 {b_95 * 1000:7.1f} ms")
    print(f"ratio (median)      {p_med / b_med:7.2f}x the interpreter floor")
    print(f"RSS after Init      median {rss / 1024:7.1f} MiB"
          + (f"   (goal <= {RSS_GOAL_MIB} MiB with 50 servers, issue 21)" if args.stand_in is not None else ""))
    if update:
        print(f"RSS after Update    median {statistics.median([u for _, _, u in plugin]) / 1024:7.1f} MiB"
              f"   ({args.stand_in} servers in the group's view)")
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({
            "runs": args.runs, "handshake_ms": [t * 1000 for t, _, _ in plugin],
            "rss_init_kib": [r for _, r, _ in plugin], "rss_update_kib": [u for _, _, u in plugin],
            "stand_in": args.stand_in}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
