"""The socket go-plugin's client dials, in front of the gRPC server.

Why a front at all: the handshake line may only be printed once the socket
listens, and gRPC takes most of the plugin's start-up time to import. The
front listens at once (plain, or with go-plugin's AutoMTLS through
:mod:`.mtls`), the handshake goes out, and gRPC starts behind it on a private
socket in a 0700 directory; a connection that arrives earlier waits for it.
Bytes are relayed unchanged (HTTP/2 to gRPC), one thread per connection.

Why TLS is here and not in gRPC: see :mod:`.mtls` (P-521 client certificates).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

log = logging.getLogger("fleeting_openstack.goplugin")

_CHUNK = 65536
#: How long an early connection waits for the gRPC server behind the front.
BACKEND_WAIT = 60.0


class UnixFront:
    """Accept on ``public_path``; relay each connection to ``backend_path``."""

    def __init__(self, public_path: str, tls: ssl.SSLContext | None = None) -> None:
        self.public_path = public_path
        self._tls = tls
        self._private_dir = _private_dir()
        self.backend_path = os.path.join(self._private_dir, "grpc.sock")
        #: set once the gRPC server listens on ``backend_path``.
        self.backend_ready = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(public_path)
        self._listener.listen(16)
        self._closed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, name="front-accept", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.close()
        finally:
            for path in (self.public_path, self.backend_path):
                if os.path.exists(path):
                    os.unlink(path)
            if os.path.isdir(self._private_dir):
                os.rmdir(self._private_dir)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="front-conn", daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        client: socket.socket = raw
        if self._tls is not None:
            import ssl

            try:
                raw.settimeout(10)
                client = self._tls.wrap_socket(raw, server_side=True)
                client.settimeout(None)
            except (ssl.SSLError, OSError) as exc:
                log.warning("rejected a connection: TLS handshake failed", extra={"error": str(exc)})
                raw.close()
                return
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if not self.backend_ready.wait(BACKEND_WAIT):
                raise OSError("the gRPC server did not start")
            backend.connect(self.backend_path)
            _relay(client, backend)
        except OSError as exc:
            if not self._closed.is_set():
                log.debug("connection closed", extra={"error": str(exc)})
        finally:
            for s in (client, backend):
                try:
                    s.close()
                except OSError:
                    pass


def _private_dir() -> str:
    """A fresh 0700 directory (like tempfile.mkdtemp, without importing tempfile)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, f"fleeting-grpc-{os.getpid()}-" + os.urandom(6).hex())  # stale.py: pid
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free private directory name in {base}")


def _relay(client: socket.socket, backend: socket.socket) -> None:
    # One thread per connection moves bytes both ways: an SSL object must
    # not be read and written from two threads at once.
    pending = getattr(client, "pending", lambda: 0)
    while True:
        if pending():
            readable = [client]
        else:
            readable, _, _ = select.select([client, backend], [], [])
        if client in readable:
            try:
                data = client.recv(_CHUNK)
            except OSError as exc:  # ssl.SSLWantReadError: no application data yet
                if type(exc).__name__ != "SSLWantReadError":
                    raise
                data = None
            if data == b"":
                return
            if data:
                backend.sendall(data)
        if backend in readable:
            data = backend.recv(_CHUNK)
            if not data:
                return
            client.sendall(data)
