"""Optional readiness probe: is the instance's port really answering?

``tcp`` needs a completed TCP connect; ``ssh-banner`` also needs the server's
``SSH-2.0-`` identification line (RFC 4253 §4.2), which sshd sends only once
it is ready to authenticate. Used after the strategy's boot marker, so a
worker is reported running only when the runner can log in.
"""

from __future__ import annotations

import socket


def probe_address(host: str, port: int, timeout: float, banner: bool = False) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            if not banner:
                return True
            conn.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = conn.recv(256)
                if not chunk:
                    break
                data += chunk
            return any(line.startswith(b"SSH-") for line in data.splitlines())
    except OSError:
        return False
