#!/usr/bin/env python3
"""Scale bench: Update, Increase(n) and Decrease(n) at N = 10 ... 5,000 servers.

Runs the plugin's provider (the installed ``fleeting_openstack``) against
bench/novastub.py, an HTTP stand-in for Keystone + Nova that serves realistic
``/servers/detail`` pages and models latency, service time and server-side
concurrency; and, with ``--devcloud``, a small sanity run against the real
devcloud. Every operation is done three ways and printed side by side:

* after    -- this plugin: Update = changes-since delta on its group view
              (full resync every resync_interval), adaptive create/delete
              concurrency, Decrease from the view;
* before   -- this plugin before issue 13: Update lists the group by tag every
              time, 5 creates / 10 deletes in parallel, Decrease re-lists;
* original -- the Go plugin's way: Update lists every server of the project
              (all pages), one create / one delete at a time.

Per N: requests, response bytes, wall time and plugin CPU per Update (steady
state, and the full resync that happens once per resync_interval), the plugin
process's RSS (each N in a fresh child process); per server-side concurrency:
Increase(n)/Decrease(n) wall time, request counts and the peak concurrency
the stand-in saw. Ratios are after/original. Counts are exact; times are what
this machine gave.

    python3 bench/scale.py                       # N = 10,100,1000,5000; C = 1,2,10,50
    python3 bench/scale.py --create-time 1 --concurrency 10 --ops 50   # the issue's acceptance case
    python3 bench/scale.py --ci --json out.json   # small N, what CI runs (tests/devcloud/test_scale_bench.py)
    python3 bench/scale.py --devcloud             # also the sanity run on the devcloud
    python3 bench/scale.py --sweep                # fixed windows 1..8 vs adaptive, stand-in C = 2,10,50
    python3 bench/scale.py --sweep --devcloud     # the same on the devcloud (bench/sweep.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
GROUP = "bench"


# -- talking to the stand-in ------------------------------------------------------
class Stub:
    def __init__(self, url: str) -> None:
        self.url = url

    def admin(self, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body or {}).encode() if body is not None or path != "/_stats" else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self.admin("/_stats")

    def measure(self, fn):
        """Run fn; return (result, requests, bytes, wall, stats)."""
        self.admin("/_reset", {})
        started = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - started
        st = self.stats()
        return result, sum(st["requests"].values()), sum(st["bytes"].values()), wall, st


def start_stub() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "novastub.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    return proc, line[1]


def plugin_config(workdir: Path, **extra) -> dict:
    import novastub

    return {"cloud": "stub", "clouds_config": str(workdir / "clouds.yaml"), "name": GROUP,
            "credentials": {"state_dir": str(workdir / "state")},
            "server_spec": {"name": f"{GROUP}-%d", "imageRef": novastub.IMAGE_ID, "flavorRef": "1",
                            "networks": [{"uuid": novastub.NETWORK_ID}]}, **extra}


def make_provider(workdir: Path, mode: str, **extra):
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.provider.group import OpenStackProvider

    if mode == "before":
        extra.setdefault("resync_interval", "0s")
    provider = OpenStackProvider()
    provider.init(json.dumps(plugin_config(workdir, **extra)).encode(), Settings())
    if mode == "before":  # the provider as it was: list by tag every time (200 a page), fixed 5/10,
        assert provider.state is not None
        provider.use_state(dataclasses.replace(  # no view: re-list on Decrease
            provider.state, view=None, delete_limit=AdaptiveLimit("delete", 10, adaptive=False)))
        provider.create_limit = AdaptiveLimit("create", 5, adaptive=False)  # (the setter: the creator's too)
        paged = provider.cloud.list_servers
        provider.cloud.list_servers = lambda filters, page_size=200: paged(filters, page_size=page_size)
    return provider


def rss_kib() -> tuple[int, int]:
    rss = hwm = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
    return rss, hwm


# -- the child: one provider, Updates at one N ------------------------------------------
def child_update(args: argparse.Namespace) -> int:
    stub = Stub(args.url)
    workdir = Path(args.workdir)
    provider = make_provider(workdir, args.mode)
    out: dict = {}

    def one():
        c0 = time.process_time()
        states = provider.update()
        return len(states), time.process_time() - c0

    (count, cpu), req, nbytes, wall, _ = stub.measure(one)
    out["first"] = {"requests": req, "bytes": nbytes, "wall": wall, "cpu": cpu, "servers": count}
    rows = []
    for _ in range(args.updates):
        (count, cpu), req, nbytes, wall, _ = stub.measure(one)
        rows.append((req, nbytes, wall, cpu))
    k = len(rows)
    out["steady"] = {"requests": sum(r[0] for r in rows) / k, "bytes": sum(r[1] for r in rows) / k,
                     "wall": sum(r[2] for r in rows) / k, "cpu": sum(r[3] for r in rows) / k,
                     "cpu_max": max(r[3] for r in rows), "servers": count}
    out["rss_kib"], out["hwm_kib"] = rss_kib()
    print(json.dumps(out))
    return 0


# -- the original's way, over plain HTTP --------------------------------------------------
class Original:
    """What the Go plugin sends: every server of the project, one request at a time."""

    def __init__(self, url: str) -> None:
        self.base = url + "/compute/v2.1"
        self.headers = {"X-Auth-Token": "t", "X-OpenStack-Nova-API-Version": "2.79",
                        "Content-Type": "application/json"}

    def _call(self, method: str, path: str, body: dict | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, method=method, headers=self.headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.read()

    def update(self) -> int:
        count, path = 0, "/servers/detail"
        while True:
            doc = json.loads(self._call("GET", path))
            count += sum(1 for s in doc["servers"] if s["metadata"].get("fleeting-cluster") == GROUP)
            links = doc.get("servers_links")
            if not links:
                return count
            path = "/servers/detail?marker=" + doc["servers"][-1]["id"]

    def increase(self, n: int) -> list[str]:
        import novastub

        ids = []
        for i in range(n):
            body = {"server": {"name": f"{GROUP}-{i}", "imageRef": novastub.IMAGE_ID, "flavorRef": "1",
                               "networks": [{"uuid": novastub.NETWORK_ID}],
                               "metadata": {"fleeting-cluster": GROUP}, "user_data": "I2Nsb3VkLWNvbmZpZwo="}}
            ids.append(json.loads(self._call("POST", "/servers", body))["server"]["id"])
        return ids

    def decrease(self, ids: list[str]) -> None:
        for sid in ids:
            self._call("DELETE", f"/servers/{sid}")


# -- the orchestrator ------------------------------------------------------------------
def seed(stub: Stub, n: int, others: int) -> None:
    from fleeting_openstack.config.identity import group_tag

    stub.admin("/_clear", {})
    stub.admin("/_seed", {"count": others, "prefix": "other-", "tags": [], "metadata": {"owner": "someone"}})
    stub.admin("/_seed", {"count": n, "prefix": f"{GROUP}-", "tags": [group_tag(GROUP)],
                          "metadata": {"fleeting-cluster": GROUP, "fleeting-index": "0"}})


def run_child(args, stub: Stub, workdir: Path, mode: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    out = subprocess.run([sys.executable, str(HERE / "scale.py"), "--child-update", "--mode", mode,
                          "--url", stub.url, "--workdir", str(workdir), "--updates", str(args.updates)],
                         env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_updates(args, stub: Stub, workdir: Path) -> list[dict]:
    rows = []
    original = Original(stub.url)
    for n in args.sizes:
        seed(stub, n, args.others)
        after = run_child(args, stub, workdir, "after")
        before = run_child(args, stub, workdir, "before")
        orig = []
        for _ in range(args.updates):
            count, req, nbytes, wall, _ = stub.measure(original.update)
            assert count == n, (count, n)
            orig.append((req, nbytes, wall))
        k = len(orig)
        rows.append({"n": n, "others": args.others, "after": after, "before": before,
                     "original": {"requests": sum(r[0] for r in orig) / k, "bytes": sum(r[1] for r in orig) / k,
                                  "wall": sum(r[2] for r in orig) / k}})
        print_update_row(rows[-1], header=len(rows) == 1)
    return rows


def bench_scaling(args, stub: Stub, workdir: Path) -> list[dict]:
    rows = []
    original = Original(stub.url)
    for conc in args.concurrency:
        stub.admin("/_config", {"concurrency": conc, "create_time": args.create_time,
                                "delete_time": args.delete_time, "build_time": 0})
        row: dict = {"concurrency": conc, "n": args.ops}
        for mode in ("after", "before"):
            stub.admin("/_clear", {})
            provider = make_provider(workdir, mode, create_concurrency=args.create_concurrency,
                                     delete_concurrency=args.delete_concurrency)
            made, req, _, wall, st = stub.measure(lambda: provider.increase(args.ops))
            inc = {"wall": wall, "requests": req, "creates": st["requests"].get("create", 0),
                   "peak": st["peak"].get("create", 0), "rejected": st["rejected"]}
            ids = [sid for sid, _ in provider.update()]
            assert len(ids) == args.ops == made, (len(ids), made)
            _, req, _, wall, st = stub.measure(lambda: provider.decrease(ids))
            dec = {"wall": wall, "requests": req, "deletes": st["requests"].get("delete", 0),
                   "lists": st["requests"].get("list", 0), "peak": st["peak"].get("delete", 0)}
            row[mode] = {"increase": inc, "decrease": dec}
            provider.close()
        stub.admin("/_clear", {})
        ids, req, _, wall, st = stub.measure(lambda: original.increase(args.ops))
        inc = {"wall": wall, "requests": req, "creates": st["requests"].get("create", 0),
               "peak": st["peak"].get("create", 0)}
        _, req, _, wall, st = stub.measure(lambda: original.decrease(ids))
        row["original"] = {"increase": inc, "decrease": {"wall": wall, "requests": req, "lists": 0,
                                                         "deletes": st["requests"].get("delete", 0),
                                                         "peak": st["peak"].get("delete", 0)}}
        rows.append(row)
        print_scaling_row(row, header=len(rows) == 1)
    stub.admin("/_config", {"concurrency": 1000, "create_time": 0, "delete_time": 0})
    return rows


def kb(x: float) -> str:
    if x < 1024:
        return f"{x:.0f}B"
    return f"{x / 1024:.1f}K" if x < 1024 * 1024 else f"{x / 1048576:.1f}M"


def print_update_row(r: dict, header: bool) -> None:
    a, b, o = r["after"], r["before"], r["original"]
    if header:
        print(f"\nUpdate (own N among {r['others']} other servers; steady state unless marked 'full'); "
              "ratio = after/original")
        print(f"{'N':>6} | {'after req':>9} {'bytes':>8} {'wall ms':>8} {'cpu ms':>7} | "
              f"{'full req':>8} {'bytes':>8} {'cpu ms':>7} | {'before req':>10} {'bytes':>8} {'cpu ms':>7} | "
              f"{'orig req':>8} {'bytes':>8} {'wall ms':>8} | {'bytes ratio':>11} {'wall ratio':>10} | {'RSS MiB':>7}")
    s, f = a["steady"], a["first"]
    print(f"{r['n']:>6} | {s['requests']:>9.0f} {kb(s['bytes']):>8} {s['wall'] * 1e3:>8.1f} {s['cpu'] * 1e3:>7.1f} | "
          f"{f['requests']:>8} {kb(f['bytes']):>8} {f['cpu'] * 1e3:>7.1f} | "
          f"{b['steady']['requests']:>10.0f} {kb(b['steady']['bytes']):>8} {b['steady']['cpu'] * 1e3:>7.1f} | "
          f"{o['requests']:>8.0f} {kb(o['bytes']):>8} {o['wall'] * 1e3:>8.1f} | "
          f"{s['bytes'] / o['bytes']:>11.4f} {s['wall'] / o['wall']:>10.3f} | {a['rss_kib'] / 1024:>7.1f}", flush=True)


def print_scaling_row(r: dict, header: bool) -> None:
    if header:
        print(f"\nIncrease(n)/Decrease(n), n = {r['n']}: wall s (requests; peak concurrent seen by the stand-in); "
              "ratio = after/original")
        print(f"{'server C':>8} | {'Inc after':>18} {'before':>18} {'original':>18} {'ratio':>6} | "
              f"{'Dec after':>18} {'before':>18} {'original':>18} {'ratio':>6}")

    def cell(x: dict, kind: str) -> str:
        return f"{x['wall']:6.2f} ({x['requests']:>3};{x['peak']:>3})"

    a, b, o = r["after"], r["before"], r["original"]
    print(f"{r['concurrency']:>8} | {cell(a['increase'], 'i'):>18} {cell(b['increase'], 'i'):>18} "
          f"{cell(o['increase'], 'i'):>18} {a['increase']['wall'] / o['increase']['wall']:>6.3f} | "
          f"{cell(a['decrease'], 'd'):>18} {cell(b['decrease'], 'd'):>18} {cell(o['decrease'], 'd'):>18} "
          f"{a['decrease']['wall'] / o['decrease']['wall']:>6.3f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", default="10,100,1000,5000", help="group sizes N (comma-separated)")
    parser.add_argument("--others", type=int, default=100, help="servers of others in the project")
    parser.add_argument("--updates", type=int, default=5, help="steady-state Updates measured per N")
    parser.add_argument("--ops", type=int, default=50, help="n of Increase(n)/Decrease(n)")
    parser.add_argument("--concurrency", default="1,2,10,50", help="server-side concurrency values")
    parser.add_argument("--create-time", type=float, default=0.2, help="seconds a create holds a server slot")
    parser.add_argument("--delete-time", type=float, default=0.05, help="seconds a delete holds a server slot")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--service-time", type=float, default=0.0, help="seconds every request holds a slot")
    parser.add_argument("--overload", choices=("queue", "429"), default="queue",
                        help="requests beyond the server's concurrency: wait, or get 429")
    parser.add_argument("--create-concurrency", type=int, default=10, help="plugin_config create_concurrency")
    parser.add_argument("--delete-concurrency", type=int, default=20, help="plugin_config delete_concurrency")
    parser.add_argument("--devcloud", action="store_true", help="also the sanity run against the devcloud")
    parser.add_argument("--ci", action="store_true", help="small and fast: N=10,100; n=10; C=1,10")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--only", choices=("update", "scaling"), help="run only this part")
    parser.add_argument("--sweep", action="store_true", help="the window sweep instead (bench/sweep.py): on the "
                        "stand-in at each --concurrency, or with --devcloud on the devcloud only")
    parser.add_argument("--windows", default="1,2,3,4,5,6,7,8,adaptive", help="sweep: the windows compared")
    parser.add_argument("--sweep-ops", default="20,50", help="sweep: the n of Increase(n)/Decrease(n)")
    parser.add_argument("--repeat", type=int, default=1, help="sweep on the devcloud: rounds (alternating order; medians)")
    parser.add_argument("--child-update", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.child_update:
        return child_update(args)
    if args.ci:
        args.sizes, args.ops, args.concurrency, args.updates = "10,100", 10, "1,10", 3
        args.create_time, args.delete_time = 0.05, 0.01
        if args.sweep:
            args.concurrency, args.windows, args.sweep_ops = "2,10", "1,5,adaptive", "12"
    elif args.sweep and "--concurrency" not in sys.argv:
        args.concurrency = "2,10,50"
    args.sizes = [int(x) for x in str(args.sizes).split(",")]
    args.concurrency = [int(x) for x in str(args.concurrency).split(",")]
    args.windows = [w if w == "adaptive" else int(w) for w in str(args.windows).split(",")]
    args.sweep_ops = [int(x) for x in str(args.sweep_ops).split(",")]
    if args.sweep and args.devcloud:
        import sweep

        results = {"args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
                   "sweep": sweep.run(args)}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        return 0

    proc, url = start_stub()
    stub = Stub(url)
    stub.admin("/_config", {"latency": args.latency, "service_time": args.service_time,
                            "overload": args.overload})
    results: dict = {"args": {k: v for k, v in vars(args).items() if not k.startswith("child")}}
    try:
        with tempfile.TemporaryDirectory(prefix="fleeting-bench-") as tmp:
            workdir = Path(tmp)
            import novastub

            (workdir / "clouds.yaml").write_text(novastub.clouds_yaml(int(url.rsplit(":", 1)[1])))
            print(f"stand-in {url}: latency {args.latency}s, service time {args.service_time}s, "
                  f"create {args.create_time}s, delete {args.delete_time}s per request, overload: {args.overload}")
            if args.sweep:
                import sweep

                results["sweep"] = sweep.run(args, stub, workdir)
            else:
                if args.only != "scaling":
                    results["update"] = bench_updates(args, stub, workdir)
                if args.only != "update":
                    results["scaling"] = bench_scaling(args, stub, workdir)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if args.devcloud and not args.sweep:
        from devcloud_sanity import run as devcloud_run

        results["devcloud"] = devcloud_run(n=2 if args.ci else 5)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
