"""Run the OpenStack provider in a process of its own (fault suite: SIGKILL,
two processes on one state dir). Usage: run_provider.py CONFIG.json increase N
Prints one JSON line: {"made": n, "error": "..."}."""

from __future__ import annotations

import json
import sys

from fleeting_openstack.contract.instancegroup import PartialError, Settings
from fleeting_openstack.provider.group import OpenStackProvider


def main() -> int:
    config = open(sys.argv[1], "rb").read()
    provider = OpenStackProvider()
    provider.init(config, Settings())
    print(json.dumps({"ready": True}), flush=True)
    if sys.argv[2] == "increase":
        try:
            made, error = provider.increase(int(sys.argv[3])), ""
        except PartialError as exc:
            made, error = exc.done, str(exc)
        print(json.dumps({"made": made, "error": error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
