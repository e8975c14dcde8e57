"""Pausing the devcloud's nova-compute for a few seconds (SIGSTOP, then SIGCONT), so that
servers created meanwhile stay untouched by any compute host (Nova leaves their
``updated_at`` empty). The devcloud is shared: a pause is short (at most
:data:`LIMIT` seconds, enforced by a watchdog) and always ends, also when the test fails.

Usage (Python): ``with paused_compute(): ...``. From another language:
``python3 -m devcloud.compute_pause SECONDS`` pauses for SECONDS (≤ LIMIT) and resumes;
SIGTERM/SIGINT resume at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from devcloud.fixtures import state_dir

#: The longest a pause may last (seconds): other engineers share this devcloud.
LIMIT = 20.0


def compute_pid(state: Path | None = None) -> int:
    """nova-compute's pid, checked against its command line."""
    pid = int(((state or state_dir()) / "run/nova-compute.pid").read_text().split()[0])
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    if b"nova-compute" not in cmdline:
        raise RuntimeError(f"pid {pid} is not nova-compute: {cmdline!r}")
    return pid


def stopped(pid: int) -> bool:
    """The process is stopped (state T)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] in "Tt"


@contextlib.contextmanager
def paused_compute(limit: float = LIMIT) -> Iterator[int]:
    """nova-compute stopped for the block (the watchdog resumes it after ``limit`` s anyway)."""
    limit = min(limit, LIMIT)
    pid = compute_pid()
    resumed = threading.Event()

    def resume() -> None:
        if not resumed.is_set():
            resumed.set()
            os.kill(pid, signal.SIGCONT)

    watchdog = threading.Timer(limit, resume)
    watchdog.daemon = True
    os.kill(pid, signal.SIGSTOP)
    watchdog.start()
    began = time.monotonic()
    try:
        yield pid
    finally:
        watchdog.cancel()
        resume()
        print(f"nova-compute (pid {pid}) paused for {time.monotonic() - began:.1f}s", file=sys.stderr)


def main(argv: list[str]) -> int:
    seconds = min(float(argv[1]) if len(argv) > 1 else LIMIT, LIMIT)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with paused_compute(seconds) as pid:
        print(f"paused {pid}", flush=True)
        done.wait(seconds)
    print("resumed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
