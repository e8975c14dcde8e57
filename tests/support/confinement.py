"""Confine a test's processes to loopback and the test driver's bridges (docs/e2e.md).

The confinement of tests/e2e/test_e2e.py's Go test: a cgroup v2 whose processes may
send only over ``lo`` and the driver's ``fe2e-*`` bridges (iptables/ip6tables
OUTPUT rules matching the cgroup); anything else is rejected at once. Used by
the Go suites that SSH into devcloud instances, the E2E and tests/conformance/provisioner
(their Go-side checks refuse any address the driver did not make; this holds even if
such a check were wrong).
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def cgroup2_root() -> Path:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified beside v1)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    raise AssertionError("no cgroup v2 hierarchy is mounted (the confinement needs one)")


#: run inside the cgroup: exits 0 only when a connection off the bridges is refused at once
PROBE = ("import socket,sys\n"
         "try: socket.create_connection(('203.0.113.1', 22), timeout=5)\n"
         "except ConnectionRefusedError: sys.exit(0)\n"
         "except OSError as e: sys.exit(f'not refused: {e}')\n"
         "sys.exit('connected')")


def _iptables(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-w", *args], capture_output=True, text=True, check=check)


@contextmanager
def confined(name: str, chain: str | None = None) -> Iterator[Path]:
    """A cgroup ``name`` whose processes may send only over loopback and the driver's bridges
    (iptables chain ``chain``, by default ``name`` in capitals); checked with :data:`PROBE`
    before it is handed out."""
    cgroup = cgroup2_root() / name
    chain = chain or name.upper()[:28]
    rules = []
    cgroup.mkdir()
    try:
        for tool, bridges in (("iptables", True), ("ip6tables", False)):
            _iptables(tool, "-N", chain)
            _iptables(tool, "-A", chain, "-o", "lo", "-j", "RETURN")
            if bridges:
                _iptables(tool, "-A", chain, "-o", "fe2e-+", "-j", "RETURN")
            _iptables(tool, "-A", chain, "-j", "REJECT")
            hook = ("OUTPUT", "-m", "cgroup", "--path", cgroup.name, "-j", chain)
            _iptables(tool, "-I", *hook)
            rules.append((tool, hook))
        probe = subprocess.run(["/usr/bin/python3", "-c", PROBE], preexec_fn=join(cgroup),
                               capture_output=True, text=True)
        assert probe.returncode == 0, f"the cgroup confinement does not hold: {probe.stderr}"
        yield cgroup
    finally:
        for tool, hook in rules:
            _iptables(tool, "-D", *hook, check=False)
        for tool in ("iptables", "ip6tables"):
            _iptables(tool, "-F", chain, check=False)
            _iptables(tool, "-X", chain, check=False)
        for _ in range(50):
            try:
                cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.2)


def join(cgroup: Path) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into ``cgroup``."""
    def preexec() -> None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    return preexec
