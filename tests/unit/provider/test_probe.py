"""The readiness probe against listeners this test creates on loopback."""

from __future__ import annotations

import socket
import threading

from fleeting_openstack.provider.probe import probe_address


def serve_once(payload: bytes) -> int:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        conn.sendall(payload)
        conn.close()
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1]


def test_tcp_probe_open_port():
    assert probe_address("127.0.0.1", serve_once(b""), 2.0)


def test_tcp_probe_closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert not probe_address("127.0.0.1", port, 1.0)


def test_ssh_banner_probe():
    assert probe_address("127.0.0.1", serve_once(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n"), 2.0, banner=True)
    assert not probe_address("127.0.0.1", serve_once(b"HTTP/1.1 400 Bad Request\r\n"), 2.0, banner=True)
