"""go-plugin's AutoMTLS, terminated with Python's ssl (OpenSSL) in front of gRPC.

Why not gRPC's own TLS: go-plugin's client authenticates with an ECDSA P-521
certificate, and gRPC's BoringSSL does not offer P-521 signatures in its
CertificateRequest, so Go's TLS stack sends no client certificate at all and
the handshake fails ("PEER_DID_NOT_RETURN_A_CERTIFICATE"). OpenSSL accepts
P-521, so the front (:mod:`.front`) terminates TLS with the context made here,
which requires and verifies the client certificate from ``PLUGIN_CLIENT_CERT``
and negotiates ALPN ``h2`` (gRPC-Go requires it), and relays the decrypted
HTTP/2 bytes to the gRPC server on a private socket in a 0700 directory.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
import tempfile


def server_certificate() -> tuple[bytes, bytes, bytes]:
    """A self-signed ECDSA certificate for ``localhost``, shaped like go-plugin's.

    Returns (certificate PEM, private key PEM, certificate DER).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleeting-plugin-openstack"),
        ]
    )
    now = _dt.datetime.now(_dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(seconds=30))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_agreement=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER)


def server_context(client_cert_pem: str) -> tuple[ssl.SSLContext, bytes]:
    """The TLS side of the front (:mod:`.front`) and the server certificate's DER.

    Requires and verifies the client certificate from ``PLUGIN_CLIENT_CERT``;
    ALPN ``h2`` because gRPC-Go requires it.
    """
    cert_pem, key_pem, der = server_certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_cert_pem)
    context.set_alpn_protocols(["h2"])
    with tempfile.TemporaryDirectory() as scratch:  # load_cert_chain wants files
        cert_file, key_file = os.path.join(scratch, "c.pem"), os.path.join(scratch, "k.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context, der
