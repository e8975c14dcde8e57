#!/usr/bin/env python3
"""Soak: N cycles of scale up / scale down through the provider, counting what goes wrong.

Each cycle: Increase(size), Update until every server is running, Decrease(all),
Update until the group is empty. Reported (and printed as one JSON line at the
end): cycles, failed calls (by kind), servers made, duplicate names (a name
seen twice over the whole run), leaks (servers of the group left in the cloud
after the run, and floating IPs naming the group), RSS at the start, after
the first cycle and at the end (growth = end - after first cycle).

    python3 bench/soak.py                          # devcloud, 3 cycles of 2 (CI size)
    python3 bench/soak.py --cycles 1000 --size 3   # the documented soak (hours on the devcloud)
    python3 bench/soak.py --stub --cycles 1000     # against bench/novastub.py (minutes)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def devcloud_config(work: Path, group: str) -> tuple[dict, object]:
    sys.path.append(str(ROOT / "tests"))
    from devcloud.fixtures import clouds_yaml_path, load_fixtures

    fx = load_fixtures()
    cfg = {"cloud": "devcloud-demo", "clouds_config": str(clouds_yaml_path()), "name": group,
           "credentials": {"state_dir": str(work / "state")},
           "server_spec": {"name": f"{group}-%d", "imageRef": fx["images"]["tiny-raw"],
                           "flavorRef": fx["flavors"]["m1.tiny"], "networks": [{"uuid": fx["networks"]["workers"]}],
                           "security_groups": [fx["security_group"]["name"]]}}

    def leftovers() -> dict:
        import openstack
        import openstack.config

        region = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml_path())]).get_one(cloud="devcloud")
        conn = openstack.connection.Connection(config=region)
        try:
            servers = [s for s in conn.compute.servers(all_projects=True) if s.name.startswith(group + "-")]
            fips = [f for f in conn.network.ips() if (f.description or "").startswith(f"fleeting:{group} ")]
            return {"servers": len(servers), "floating_ips": len(fips)}
        finally:
            conn.close()
    return cfg, leftovers


def stub_config(work: Path, group: str) -> tuple[dict, object, object]:
    import novastub  # bench/ is on the path (bench/requests.py hands "import requests" to the library)
    import scale

    proc, url = scale.start_stub()
    stub = scale.Stub(url)
    stub.admin("/_config", {"build_time": 0.0})
    (work / "clouds.yaml").write_text(novastub.clouds_yaml(int(url.rsplit(":", 1)[1])))
    cfg = scale.plugin_config(work, name=group)
    cfg["server_spec"]["name"] = f"{group}-%d"

    def leftovers() -> dict:
        return {"servers": stub.stats()["servers"], "floating_ips": 0}
    return cfg, leftovers, proc


def wait(provider, predicate, timeout: float, failures: Counter) -> dict:
    deadline = time.time() + timeout
    states: dict = {}
    while time.time() < deadline:
        try:
            states = dict(provider.update())
        except Exception:  # noqa: BLE001 - counted
            failures["update"] += 1
        if predicate(states):
            return states
        time.sleep(0.5)
    failures["timeout"] += 1
    return states


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--size", type=int, default=2)
    ap.add_argument("--stub", action="store_true", help="run against bench/novastub.py instead of the devcloud")
    args = ap.parse_args()

    from fleeting_openstack.contract.instancegroup import PartialError, Settings, State
    from fleeting_openstack.provider.group import OpenStackProvider

    group = f"soak-{uuid.uuid4().hex[:8]}"
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.stub:
            cfg, leftovers, proc = stub_config(work, group)
        else:
            cfg, leftovers = devcloud_config(work, group)
        failures: Counter = Counter()
        names: Counter = Counter()
        ids_seen: set = set()
        made = 0
        rss = {"start": rss_kib()}
        provider = OpenStackProvider()
        provider.init(json.dumps(cfg).encode(), Settings())
        started = time.time()
        try:
            for cycle in range(args.cycles):
                try:
                    made += provider.increase(args.size)
                except PartialError as exc:
                    failures["increase"] += 1
                    made += exc.done
                states = wait(provider, lambda st: st and set(st.values()) == {State.RUNNING}, 120, failures)
                view = provider.view.snapshot()
                for sid in states:  # each server counted once; a name seen for two servers is a duplicate
                    if sid in view and sid not in ids_seen:
                        ids_seen.add(sid)
                        names[view[sid].name] += 1
                try:
                    provider.decrease(sorted(states))
                except PartialError:
                    failures["decrease"] += 1
                wait(provider, lambda st: not st, 120, failures)
                if cycle == 0:
                    rss["after_first_cycle"] = rss_kib()
                if (cycle + 1) % max(1, args.cycles // 10) == 0:
                    print(f"cycle {cycle + 1}/{args.cycles}: made {made}, failures {dict(failures)}, "
                          f"rss {rss_kib()} KiB", file=sys.stderr, flush=True)
        finally:
            rss["end"] = rss_kib()
            left = leftovers()
            provider.close()
            if proc is not None:
                proc.terminate()
        seen = sum(names.values())
        report = {"cycles": args.cycles, "size": args.size, "target": "stub" if args.stub else "devcloud",
                  "servers_made": made, "names_seen": seen, "duplicate_names": sum(1 for n in names.values() if n > 1),
                  "leaks": left, "failed_calls": dict(failures), "rss_kib": rss,
                  "rss_growth_kib": rss["end"] - rss.get("after_first_cycle", rss["end"]),
                  "seconds": round(time.time() - started, 1)}
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
