"""go-plugin's AutoMTLS, terminated with Python's ssl (OpenSSL) in front of gRPC.

Why not gRPC's own TLS: go-plugin's client authenticates with an ECDSA P-521
certificate, and gRPC's BoringSSL does not offer P-521 signatures in its
CertificateRequest, so Go's TLS stack sends no client certificate at all and
the handshake fails ("PEER_DID_NOT_RETURN_A_CERTIFICATE"). OpenSSL accepts
P-521, so this module listens on the public socket, requires and verifies the
client certificate from ``PLUGIN_CLIENT_CERT``, negotiates ALPN ``h2`` (gRPC-Go
requires it), and relays the decrypted HTTP/2 bytes to the gRPC server on a
private socket in a 0700 directory.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import select
import socket
import ssl
import tempfile
import threading

log = logging.getLogger("fleeting_openstack.goplugin")

_CHUNK = 65536


def server_certificate() -> tuple[bytes, bytes, bytes]:
    """A self-signed ECDSA certificate for ``localhost``, shaped like go-plugin's.

    Returns (certificate PEM, private key PEM, certificate DER).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleeting-plugin-openstack")])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(seconds=30))
            .not_valid_after(now + _dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                         key_agreement=True, key_cert_sign=True,
                                         content_commitment=False, data_encipherment=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER)


class TlsFront:
    """Accept mTLS connections on ``public_path``; relay each to ``backend_path``."""

    def __init__(self, public_path: str, client_cert_pem: str) -> None:
        cert_pem, key_pem, self.der = server_certificate()
        from fleeting_openstack.stale import mtls_prefix

        self._private_dir = tempfile.mkdtemp(prefix=mtls_prefix())  # 0700; cleaned by stale.py if we die
        self.backend_path = os.path.join(self._private_dir, "grpc.sock")
        self.public_path = public_path
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._context.load_verify_locations(cadata=client_cert_pem)
        self._context.set_alpn_protocols(["h2"])
        with tempfile.TemporaryDirectory() as scratch:  # load_cert_chain wants files
            cert_file, key_file = os.path.join(scratch, "c.pem"), os.path.join(scratch, "k.pem")
            with open(cert_file, "wb") as f:
                f.write(cert_pem)
            with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(key_pem)
            self._context.load_cert_chain(cert_file, key_file)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(public_path)
        self._listener.listen(16)
        self._closed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._accept_loop, name="mtls-accept", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.close()
        finally:
            for path in (self.public_path, self.backend_path):
                if os.path.exists(path):
                    os.unlink(path)
            os.rmdir(self._private_dir) if os.path.isdir(self._private_dir) else None

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="mtls-conn", daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            tls = self._context.wrap_socket(raw, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError) as exc:
            log.warning("rejected a connection: TLS handshake failed", extra={"error": str(exc)})
            raw.close()
            return
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            backend.connect(self.backend_path)
            self._relay(tls, backend)
        except OSError as exc:
            if not self._closed.is_set():
                log.debug("connection closed", extra={"error": str(exc)})
        finally:
            for s in (tls, backend):
                try:
                    s.close()
                except OSError:
                    pass

    @staticmethod
    def _relay(tls: ssl.SSLSocket, backend: socket.socket) -> None:
        # One thread per connection moves bytes both ways: an SSL object must
        # not be read and written from two threads at once.
        while True:
            if tls.pending():
                readable = [tls]
            else:
                readable, _, _ = select.select([tls, backend], [], [])
            if tls in readable:
                try:
                    data = tls.recv(_CHUNK)
                except ssl.SSLWantReadError:
                    data = None
                if data == b"":
                    return
                if data:
                    backend.sendall(data)
            if backend in readable:
                data = backend.recv(_CHUNK)
                if not data:
                    return
                tls.sendall(data)
