#!/usr/bin/env python3
"""Requests and response bytes per operation, the plugin beside the original's way.

Against the project's Nova stand-in (bench/novastub.py, own code): Update with
10 / 100 own servers among 0 / 1,000 other servers of the project, Increase(n)
and Decrease(n); each beside the same operation done the way the original Go
plugin does it (list every server of the project page by page, one create or
delete at a time). Prints a table with ratios (original / plugin). Counts are
what the stand-in served: they do not depend on the machine.

    python3 bench/requests.py            # n = 10
    python3 bench/requests.py --n 50
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ != "__main__":
    # Imported as "requests" by code that runs with bench/ on sys.path (bench/scale.py, keystoneauth
    # under it): hand over to the real requests library, so this file's name shadows nothing.
    import importlib

    _saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    del sys.modules[__name__]
    try:
        sys.modules[__name__] = importlib.import_module(__name__)
    finally:
        sys.path[:] = _saved


def row(name: str, ours: tuple[int, int], orig: tuple[int, int]) -> str:
    def ratio(a: int, b: int) -> str:
        return f"{a / b:.1f}x" if b else "-"
    return (f"{name:<34} {ours[0]:>6} {orig[0]:>7} {ratio(orig[0], ours[0]):>7}   "
            f"{ours[1]:>10} {orig[1]:>11} {ratio(orig[1], ours[1]):>7}")


def main() -> int:
    import argparse
    import tempfile

    global novastub, scale
    import novastub  # bench/ is on the path; "import requests" finds this file, which hands over
    import scale
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="servers per Increase/Decrease")
    args = ap.parse_args()
    proc, url = scale.start_stub()
    stub = scale.Stub(url)
    stub.admin("/_config", {"build_time": 0.0})
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "clouds.yaml").write_text(novastub.clouds_yaml(int(url.rsplit(":", 1)[1])))
            original = scale.Original(url)
            for own in (10, 100):
                for others in (0, 1000):
                    scale.seed(stub, own, others)
                    provider = scale.make_provider(work, "after")
                    _, r1, b1, _, _ = stub.measure(provider.update)  # first: a full listing
                    _, r2, b2, _, _ = stub.measure(provider.update)  # steady: what changed
                    provider.view.in_doubt()
                    _, r3, b3, _, _ = stub.measure(provider.update)  # a periodic full resync
                    _, ro, bo, _, _ = stub.measure(original.update)
                    rows.append(row(f"Update first, {own} own + {others}", (r1, b1), (ro, bo)))
                    rows.append(row(f"Update steady, {own} own + {others}", (r2, b2), (ro, bo)))
                    rows.append(row(f"Update resync, {own} own + {others}", (r3, b3), (ro, bo)))
                    provider.close()
            scale.seed(stub, 0, 1000)
            provider = scale.make_provider(work, "after")
            provider.update()
            _, ri, bi, _, _ = stub.measure(lambda: provider.increase(args.n))
            ids = [i for i, _ in provider.update()]
            _, rd, bd, _, _ = stub.measure(lambda: provider.decrease(ids))
            made, roi, boi, _, _ = stub.measure(lambda: original.increase(args.n))
            _, rod, bod, _, _ = stub.measure(lambda: (original.update(), original.decrease(made)))
            rows.append(row(f"Increase({args.n}), 1000 others", (ri, bi), (roi, boi)))
            rows.append(row(f"Decrease({args.n}), 1000 others", (rd, bd), (rod, bod)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{'operation':<34} {'req':>6} {'orig':>7} {'ratio':>7}   {'bytes':>10} {'orig':>11} {'ratio':>7}")
    print("\n".join(rows))
    print("first = the first Update after a start (one listing by name prefix: members by tag or metadata, "
          "so one whose tag was removed is found); steady = nothing changed (changes-since); resync = the periodic "
          "full listing by tag (every resync_interval).")
    print("ratio = original / plugin (higher: the plugin sends fewer requests / reads fewer bytes). "
          "Increase includes the quota pre-check (GET /limits, the flavor); the original's Decrease "
          "lists every server first, as it does.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
