"""Stale sockets and private mTLS dirs of dead plugin processes are cleaned at start (only
those): by stale.clean, and by the plugin process right after its handshake line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fleeting_openstack.cli import main as cli
from fleeting_openstack.transport import stale
from project import SUPPORT


def test_stale_sockets_and_mtls_dirs_of_dead_processes_are_cleaned(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = os.getppid()

    def sock(name: str) -> Path:
        path = tmp_path / name
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
        return path

    stale_sock = sock(f"{stale.SOCKET_PREFIX}{dead.pid}-abc")
    live_sock = sock(f"{stale.SOCKET_PREFIX}{live}-abc")
    other = sock(f"plugin{dead.pid}xyz")  # not ours: go-plugin's default name
    stale_dir = tmp_path / f"{stale.MTLS_PREFIX}{dead.pid}-xyz"
    stale_dir.mkdir()
    (stale_dir / "key.pem").write_text("x")
    live_dir = tmp_path / f"{stale.MTLS_PREFIX}{live}-xyz"
    live_dir.mkdir()
    removed = stale.clean([str(tmp_path)])
    assert sorted(removed) == sorted([str(stale_sock), str(stale_dir)])
    assert live_sock.exists() and other.exists() and live_dir.exists()
    assert not stale_sock.exists() and not stale_dir.exists()
    # The plugin does it at start: a new process removes what the dead one left.
    again = sock(f"{stale.SOCKET_PREFIX}{dead.pid}-def")
    env = dict(os.environ, PYTHONPATH=str(SUPPORT), PLUGIN_UNIX_SOCKET_DIR=str(tmp_path),
               FLEETING_OPENSTACK_PROVIDER="memory_provider:MemoryProvider",
               **{cli.MAGIC_COOKIE_KEY: cli.MAGIC_COOKIE_VALUE})
    proc = subprocess.Popen([sys.executable, "-m", "fleeting_openstack.cli.main"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline()
        deadline = time.time() + 10
        while again.exists() and time.time() < deadline:  # cleaned right after the handshake line
            time.sleep(0.1)
        assert not again.exists() and live_sock.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
