"""The fault proxy (faultproxy.py) as a process of its own, for tests in other languages
(tests/conformance/provisioner/hang_test.go): a FaultyCloud in front of the devcloud,
driven by one command per line on stdin, one JSON line per command on stdout.

    python3 faultproxy_serve.py CLOUDS_YAML CLOUD DIR

First line out: ``{"clouds_yaml": ..., "cloud": "faulty"}`` (the clouds.yaml whose
endpoints are the proxies'). Commands (``PROXY`` is keystone, nova, neutron or glance):

* ``add PROXY ACTION METHOD PATH_REGEX`` -> ``{"ok": true}``: a rule (``hang``, ``reset``,
  ``status`` with code 503...) for every matching request until cleared;
* ``clear`` -> ``{"ok": true, "at": <unix time>}``: every rule removed, hung requests reset;
* ``stats PROXY`` -> ``{"requests": n, "faults": {action: n}, "max_in_flight": n,
  "paths": {"METHOD path-without-query": n}}`` (``max_in_flight``: the most requests the
  proxy held at once since the last ``stats``);
* ``quit``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from faultproxy import FaultyCloud


def main(argv: list[str]) -> int:
    clouds_yaml, cloud, directory = argv[1], argv[2], Path(argv[3])
    directory.mkdir(parents=True, exist_ok=True)
    faulty = FaultyCloud({"clouds_yaml": clouds_yaml}, directory, cloud=cloud)
    peaks = dict.fromkeys(faulty.proxies, 0)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            for name, proxy in faulty.proxies.items():
                peaks[name] = max(peaks[name], proxy.in_flight)

    threading.Thread(target=sample, daemon=True).start()
    out = sys.stdout
    out.write(json.dumps({"clouds_yaml": str(faulty.clouds_yaml), "cloud": faulty.cloud}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            answer: dict[str, object]
            if words[0] == "add" and len(words) == 5:
                _, name, action, method, path = words
                faulty.proxies[name].add(action, method=None if method == "*" else method, path=path)
                answer = {"ok": True}
            elif words[0] == "clear":
                faulty.clear()
                answer = {"ok": True, "at": time.time()}
            elif words[0] == "stats" and len(words) == 2:
                proxy = faulty.proxies[words[1]]
                records = proxy.requests()
                answer = {
                    "requests": len(records),
                    "faults": dict(Counter(r.fault for r in records if r.fault)),
                    "max_in_flight": peaks[words[1]],
                    "paths": dict(Counter(f"{r.method} {re.sub(r'[?].*', '', r.path)}" for r in records)),
                }
                peaks[words[1]] = proxy.in_flight
            elif words[0] == "quit":
                break
            else:
                answer = {"ok": False, "error": f"unknown command {line.strip()!r}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        stop.set()
        faulty.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
