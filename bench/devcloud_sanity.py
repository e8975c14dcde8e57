#!/usr/bin/env python3
"""The scale bench's sanity run against the real devcloud (tests/devcloud).

Same three ways as bench/scale.py (after / before / original), at the small N
the devcloud can hold: Increase(n), steady Update, Decrease(n). Requests and
response bytes are counted on the client (keystoneauth), for the plugin and
for the original's way alike. Everything it creates is deleted again.

    python3 bench/devcloud_sanity.py [--n 5]     # or: bench/scale.py --devcloud
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MV = "2.79"


class Counter:
    """Counts every Nova request keystoneauth sends, and the response bytes."""

    def __init__(self) -> None:
        import keystoneauth1.session as ks

        self.requests = self.bytes = 0
        self.lists = 0
        self._lock = threading.Lock()
        real = ks.Session.request

        def counting(session, url, method, *args, **kwargs):
            response = real(session, url, method, *args, **kwargs)
            if "/servers" in url:
                with self._lock:
                    self.requests += 1
                    self.bytes += len(response.content or b"")
                    self.lists += "/servers/detail" in url
            return response

        ks.Session.request = counting

    def measure(self, fn):
        self.requests = self.bytes = self.lists = 0
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        return result, {"requests": self.requests, "bytes": self.bytes, "lists": self.lists,
                        "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def run(n: int = 5) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from devcloud.fixtures import clouds_yaml_path, load_fixtures

    from fleeting_openstack.contract.instancegroup import Settings, State
    from fleeting_openstack.provider.group import OpenStackProvider

    fx = load_fixtures()
    counter = Counter()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="fleeting-bench-") as tmp:
        cfg = {"cloud": "devcloud-demo", "clouds_config": str(clouds_yaml_path()), "name": group,
               "credentials": {"state_dir": tmp},
               "server_spec": {"name": f"{group}-%d", "imageRef": fx["images"]["tiny-raw"],
                               "flavorRef": fx["flavors"]["m1.tiny"],
                               "networks": [{"uuid": fx["networks"]["workers"]}]}}
        provider = OpenStackProvider()
        provider.init(json.dumps(cfg).encode(), Settings())
        out: dict = {"n": n, "group": group}
        try:
            made, out["increase"] = counter.measure(lambda: provider.increase(n))
            deadline = time.time() + 180
            while time.time() < deadline:
                states = dict(provider.update())
                if len(states) == n and set(states.values()) == {State.RUNNING}:
                    break
                time.sleep(2)
            else:
                raise SystemExit(f"devcloud: {n} servers not running after 180s: {states}")
            time.sleep(12)  # past the delta overlap: nothing changes any more

            def settle() -> None:
                # Update waits for its refresh at most a few seconds (groupview.UPDATE_WAIT), then
                # answers with the last known states; on a loaded cloud the refresh's request ends
                # later, on its own thread. Its cost belongs to the Update that started it.
                while provider.view is not None and provider.view.refreshing:
                    time.sleep(0.05)

            def update_settled():
                states = provider.update()
                settle()
                return states

            update_settled()
            _, out["update_after"] = counter.measure(update_settled)
            state = provider.state  # before: list the group by tag every time (no view)
            provider.use_state(dataclasses.replace(state, view=None))
            _, out["update_before"] = counter.measure(provider.update)
            provider.use_state(state)

            def original() -> int:  # every server of the project, all pages, filtered here
                found, params = 0, {}
                while True:
                    doc = provider.cloud.conn.compute.get("/servers/detail", params=params,
                                                          microversion=MV).json()
                    found += sum(1 for s in doc["servers"] if s["metadata"].get("fleeting-cluster") == group)
                    if not doc.get("servers_links"):
                        return found
                    params = {"marker": doc["servers"][-1]["id"]}

            found, out["update_original"] = counter.measure(original)
            assert found == n, found
            done, out["decrease"] = counter.measure(lambda: provider.decrease(list(states)))
            assert len(done) == n
        finally:
            for server in provider.cloud.list_servers({"name": f"^{group}-"}):
                provider.cloud.delete_server(server.id)
            provider.close()
    print(f"\ndevcloud sanity (n = {n}; requests / response bytes / wall s counted on the client)")
    for key in ("increase", "update_after", "update_before", "update_original", "decrease"):
        m = out[key]
        print(f"  {key:16} {m['requests']:>4} req  {m['bytes']:>9} B  {m['wall']:7.2f} s  "
              f"(lists: {m['lists']})")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    run(parser.parse_args().n)
