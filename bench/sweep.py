#!/usr/bin/env python3
"""The create/delete window sweep (issue 21): fixed windows 1 ... 8 against the adaptive one.

For each window: a fresh provider (so the adaptive one starts cold, as after a
restart) runs Increase(n) and Decrease(n) for each n (default 20 and 50), and
the sweep prints wall time and creates (deletes) per second, then the adaptive
window's time over the best fixed window's and over the fixed window of 5 (what
the plugin used before its window adapted). Wall time is the calls' (Nova
accepting the create/delete), not the servers booting.

* on the stand-in (bench/novastub.py) at server-side concurrency C (default
  2, 10, 50: calls beyond C queue), creates taking --create-time seconds of a slot;
* with --devcloud, on the real devcloud (tests/devcloud: keep it short, it is
  shared): every server it makes is deleted again, whatever happens, and the
  next run starts when Nova has destroyed them (a run competing with the last
  one's deletes measured up to 2.4x apart). The devcloud is noisy: use
  --repeat 3 (medians of rounds in alternating order).

    python3 bench/scale.py --sweep [--concurrency 2,10,50] [--create-time 0.2]
    python3 bench/scale.py --sweep --devcloud [--sweep-ops 20] [--windows 1,2,3,5,8,adaptive] [--repeat 2]
    python3 bench/scale.py --sweep --ci --json out.json   # what tests/unit/provider/test_sweep_bench.py runs
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADAPTIVE = "adaptive"


def _fix(provider, window) -> None:
    from fleeting_openstack.provider.concurrency import AdaptiveLimit

    if window != ADAPTIVE:
        import dataclasses

        provider.create_limit = AdaptiveLimit("create", int(window), adaptive=False)  # the creator's too
        provider.use_state(dataclasses.replace(provider.state, delete_limit=AdaptiveLimit("delete", int(window),
                                                                                          adaptive=False)))


def one(provider, n: int, window, wait_listed) -> dict:
    """Increase(n) then Decrease(n) through ``provider``; wall seconds and rates."""
    _fix(provider, window)
    provider.update()
    before = {sid for sid, _ in provider.update()}
    t0 = time.perf_counter()
    made = provider.increase(n)
    inc = time.perf_counter() - t0
    ids = wait_listed(provider, before, n)
    t0 = time.perf_counter()
    done = provider.decrease(ids)
    dec = time.perf_counter() - t0
    limit = provider.create_limit
    return {"window": window, "n": n, "made": made, "deleted": len(done),
            "increase": inc, "decrease": dec, "creates_per_s": made / inc, "deletes_per_s": len(done) / dec,
            "create_peak": limit.peak, "create_final": limit.limit, "delete_final": provider.delete_limit.limit}


def listed(provider, before: set[str], n: int, timeout: float = 120.0) -> list[str]:
    deadline = time.time() + timeout
    while True:
        ids = [sid for sid, _ in provider.update() if sid not in before]
        if len(ids) >= n or time.time() > deadline:
            return ids
        time.sleep(0.5)


def built(provider, before: set[str], n: int, timeout: float = 180.0) -> list[str]:
    """The devcloud's ``listed``: the n new servers, once Nova has built them all (none in BUILD)
    and 3 s have passed: the Decrease is measured on a cloud no longer spawning the Increase's
    servers, not on whatever part of that backlog is left."""
    ids = listed(provider, before, n)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = {s.id: s.status.upper() for s in provider.cloud.list_servers({"name": f"^{provider.state.cfg.name}-"})}
        if all(statuses.get(sid, "GONE") != "BUILD" for sid in ids):
            break
        time.sleep(1.0)
    time.sleep(3.0)
    return ids


def stand_in(args, stub, workdir: Path) -> list[dict]:
    from scale import make_provider

    rows = []
    for conc in args.concurrency:
        stub.admin("/_config", {"concurrency": conc, "create_time": args.create_time,
                                "delete_time": args.delete_time, "build_time": 0})
        for window in args.windows:
            for n in args.sweep_ops:
                stub.admin("/_clear", {})
                provider = make_provider(workdir, "after", max_size=max(args.sweep_ops) + 10)
                row = one(provider, n, window, listed)
                provider.close()
                rows.append({"target": f"stand-in C={conc}", **row})
    stub.admin("/_config", {"concurrency": 1000, "create_time": 0, "delete_time": 0})
    return rows


def devcloud(args) -> list[dict]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from devcloud.fixtures import clouds_yaml_path, load_fixtures

    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.provider.group import OpenStackProvider

    fx = load_fixtures()
    rows = []
    order = [(w, n) for n in args.sweep_ops for w in args.windows]
    for r in range(args.repeat):  # the devcloud is shared and noisy: rounds in alternating order
        for window, n in order if r % 2 == 0 else order[::-1]:
            rows.append(devcloud_one(fx, window, n, clouds_yaml_path(), OpenStackProvider, Settings))
            print_row(rows[-1])
    return rows


def devcloud_one(fx: dict, window, n: int, clouds_yaml, provider_class, settings_class) -> dict:
    import tempfile

    group = f"sweep-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="fleeting-sweep-") as tmp:
        cfg = {"cloud": "devcloud-demo", "clouds_config": str(clouds_yaml), "name": group,
               "credentials": {"state_dir": tmp}, "max_size": n + 5,
               "server_spec": {"name": f"{group}-%d", "imageRef": fx["images"]["tiny-raw"],
                               "flavorRef": fx["flavors"]["m1.tiny"],
                               "networks": [{"uuid": fx["networks"]["workers"]}]}}
        provider = provider_class()
        provider.init(json.dumps(cfg).encode(), settings_class())
        try:
            return {"target": "devcloud", **one(provider, n, window, built)}
        finally:
            for server in provider.cloud.list_servers({"name": f"^{group}-"}):
                try:
                    provider.cloud.delete_server(server.id)
                except Exception:  # noqa: BLE001 - gone already
                    pass
            quiet(provider.cloud, group)
            provider.close()


def quiet(cloud, group: str, timeout: float = 120.0, settle: float = 3.0) -> None:
    """Wait until Nova no longer lists the run's servers (nova-compute has destroyed them), then
    ``settle`` seconds more: the next window's run does not compete with this one's deletes."""
    deadline = time.monotonic() + timeout
    while any(True for _ in cloud.list_servers({"name": f"^{group}-"})) and time.monotonic() < deadline:
        time.sleep(1.0)
    time.sleep(settle)


def print_row(r: dict) -> None:
    print(f"  {r['target']:<16} window {str(r['window']):>8}  n {r['n']:>3}:  Increase {r['increase']:7.2f} s "
          f"({r['creates_per_s']:6.2f} creates/s, peak {r['create_peak']:>2}, final {r['create_final']:>2})  "
          f"Decrease {r['decrease']:6.2f} s ({r['deletes_per_s']:6.2f} deletes/s)", flush=True)


def median_row(rs: list[dict]) -> dict:
    """One window's runs (several with --repeat): the median wall times."""
    import statistics

    return {"window": rs[0]["window"], "runs": len(rs), "increase": statistics.median(r["increase"] for r in rs),
            "decrease": statistics.median(r["decrease"] for r in rs)}


def table(rows: list[dict]) -> list[dict]:
    """Per target and n: the adaptive window's times over the best fixed window's and the fixed 5's
    (medians when a window ran more than once)."""
    out = []
    for target in dict.fromkeys(r["target"] for r in rows):
        for n in dict.fromkeys(r["n"] for r in rows):
            rs = [r for r in rows if r["target"] == target and r["n"] == n]
            fixed = [median_row([r for r in rs if r["window"] == w])
                     for w in dict.fromkeys(r["window"] for r in rs) if w != ADAPTIVE]
            adaptive = [r for r in rs if r["window"] == ADAPTIVE]
            if not fixed or not adaptive:
                continue
            a = median_row(adaptive)
            summary = {"target": target, "n": n}
            for op in ("increase", "decrease"):
                best = min(fixed, key=lambda r: r[op])
                five = next((r for r in fixed if str(r["window"]) == "5"), None)
                summary[op] = {"adaptive": a[op], "best_fixed": best[op], "best_window": best["window"],
                               "ratio_best": a[op] / best[op],
                               "ratio_5": a[op] / five[op] if five else None}
            out.append(summary)
    print(f"\n{'target':<16} {'n':>3} | {'Increase: adaptive':>18} {'best fixed':>14} {'ratio':>6} {'vs 5':>6} | "
          f"{'Decrease: adaptive':>18} {'best fixed':>14} {'ratio':>6} {'vs 5':>6}")
    for s in out:
        cells = []
        for op in ("increase", "decrease"):
            x = s[op]
            five = f"{x['ratio_5']:6.3f}" if x["ratio_5"] is not None else "     -"
            cells.append(f"{x['adaptive']:16.2f} s {x['best_fixed']:7.2f} s (w{x['best_window']}) "
                         f"{x['ratio_best']:6.3f} {five}")
        print(f"{s['target']:<16} {s['n']:>3} | {cells[0]} | {cells[1]}")
    return out


def run(args, stub=None, workdir: Path | None = None) -> dict:
    """The sweep the arguments ask for (``stub``/``workdir``: the stand-in bench/scale.py started)."""
    print(f"\nWindow sweep: fixed windows {', '.join(str(w) for w in args.windows if w != ADAPTIVE)} "
          f"and the adaptive one; Increase(n)/Decrease(n), n = {', '.join(map(str, args.sweep_ops))}")
    rows = []
    if stub is not None:
        rows = stand_in(args, stub, workdir)
        for r in rows:
            print_row(r)
    if args.devcloud:
        rows += devcloud(args)
    return {"rows": rows, "summary": table(rows)}
