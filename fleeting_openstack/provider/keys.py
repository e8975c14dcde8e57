"""Restart-safe per-instance SSH keys, without private keys in the cloud.

Design
------
* A **master secret** (32 random bytes) lives in ``<state_dir>/master.key``,
  mode 0600, in a state directory created with mode 0700. It is made once, on
  first use, and never leaves the runner manager. A secret file readable or
  writable by group/others, or owned by someone else, is refused with an
  error: the plugin never silently uses (or "fixes") a key that may have leaked.
* Each instance gets a **salt**, :func:`new_salt` — random, *not* secret. The
  provider stores it in the server's metadata (``fleeting-key-salt``), so after
  a restart the salt is read back from the cloud.
* **Ed25519** keys are derived: ``HKDF-SHA256(master, salt, info)`` gives the
  32-byte private seed. Same master + same salt = same key, in any process, so
  nothing per instance is stored anywhere.
* **RSA** cannot be derived (``cryptography`` has no deterministic RSA key
  generation), so an RSA key is generated once per salt and kept in
  ``<state_dir>/rsa/<salt>.pem`` (0600, PKCS#8, unencrypted — protected like the
  master secret by file modes). :meth:`KeyStore.forget` deletes it when the
  instance is gone. Ed25519 is the default key type for this reason.

Losing the state directory makes the keys of running instances unrecoverable
(the provider should then replace those instances); keep it on persistent
storage (e.g. ``/var/lib/gitlab-runner/fleeting-openstack``).

The OpenSSH private-key encoding contains a random "check" word, so
``private_key_pem`` bytes differ between two calls for the same key; the key
itself (and the public key) does not.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# cryptography (~7 MiB resident) is imported when the first key is made, not at Init.

__all__ = ["MASTER_FILE", "RSA_BITS", "KeyPair", "KeyStore", "KeyStoreError", "new_salt"]

MASTER_FILE = "master.key"
MASTER_SIZE = 32
RSA_BITS = 3072
_HKDF_INFO = b"fleeting-plugin-openstack ed25519 instance key v1"
_SALT_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")


class KeyStoreError(RuntimeError):
    """The state directory or a key file is unusable (with the reason)."""


@dataclass(frozen=True)
class KeyPair:
    """One instance's key pair. Its repr never shows the private key.

    :param private_key_pem: private key, OpenSSH format, unencrypted.
    :param public_key_openssh: ``ssh-ed25519 AAAA...`` / ``ssh-rsa AAAA...``.
    """

    private_key_pem: bytes = field(repr=False)
    public_key_openssh: str

    def __repr__(self) -> str:
        return f"KeyPair(public_key_openssh={self.public_key_openssh!r}, private_key_pem=<redacted>)"

    __str__ = __repr__


def new_salt() -> str:
    """A fresh per-instance salt: 32 hex characters, random, not secret."""
    return secrets.token_hex(16)


def _check_private_file(path: Path) -> os.stat_result:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise KeyStoreError(f"{path}: not a regular file; refusing to use it as a secret")
    if st.st_mode & 0o077:
        raise KeyStoreError(
            f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets group/others access a secret; "
            f"refusing to use it. If it may have leaked, delete it (instances using it must be "
            f"replaced); otherwise run: chmod 600 {path}"
        )
    if st.st_uid != os.geteuid():
        raise KeyStoreError(f"{path}: owned by uid {st.st_uid}, not by this process (uid {os.geteuid()})")
    return st


def _write_new_private_file(path: Path, data: bytes) -> bool:
    """Create ``path`` (0600) with ``data``; False if it already existed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # umask cannot widen it, but be explicit
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return True


def _ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private_dir(path)


def _check_private_dir(path: Path) -> None:
    st = path.stat()
    if not stat.S_ISDIR(st.st_mode):
        raise KeyStoreError(f"{path}: not a directory")
    if st.st_mode & 0o022:
        raise KeyStoreError(
            f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets group/others write here; "
            f"refusing to keep secrets in it (chmod 700 {path})"
        )


#: How many salts' key checks a KeyStore remembers (one per server of the group).
MAX_REMEMBERED_CHECKS = 10_000


class KeyStore:
    """Per-instance SSH keys rooted in one master secret in ``state_dir``.

    Creating a KeyStore creates the directory (0700) and the master secret
    (0600) if missing, and refuses unsafe existing ones.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        _ensure_private_dir(self.state_dir)
        self._master = self._load_or_create_master()
        #: salt -> key check: every Update checks each changed server's (an HMAC each, bench/provisioner.py)
        self._checks: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"KeyStore(state_dir={str(self.state_dir)!r})"

    def key_check(self, salt: str) -> str:
        """A non-secret check value of the master secret for ``salt`` (stored in server metadata):
        a different master secret gives a different value, so a lost state dir is detected."""
        import hashlib
        import hmac

        known = self._checks.get(salt)
        if known is not None:
            return known
        self._check_salt(salt)
        check = hmac.new(self._master, b"fleeting key check\0" + salt.encode(), hashlib.sha256).hexdigest()[:24]
        if len(self._checks) >= MAX_REMEMBERED_CHECKS:
            self._checks.clear()  # bounded: a group's salts, far fewer than this
        self._checks[salt] = check
        return check

    @staticmethod
    def check(state_dir: str | os.PathLike[str]) -> None:
        """Raise :class:`KeyStoreError` for what ``KeyStore(state_dir)`` would refuse,
        without creating anything (``validate --check-cloud``)."""
        path = Path(state_dir)
        if path.exists():
            _check_private_dir(path)
            master = path / MASTER_FILE
            if master.exists() or master.is_symlink():
                _check_private_file(master)
                size = master.stat().st_size
                if size != MASTER_SIZE:
                    raise KeyStoreError(f"{master}: expected {MASTER_SIZE} bytes, found {size}")
            elif not os.access(path, os.W_OK | os.X_OK):
                raise KeyStoreError(f"{path}: cannot create {MASTER_FILE} here (no write permission)")
            return
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK | os.X_OK):
            raise KeyStoreError(f"{path}: does not exist and cannot be created in {parent} (no write permission)")

    @property
    def master_path(self) -> Path:
        return self.state_dir / MASTER_FILE

    def _load_or_create_master(self) -> bytes:
        path = self.master_path
        if not path.exists():
            _write_new_private_file(path, secrets.token_bytes(MASTER_SIZE))
        _check_private_file(path)
        data = path.read_bytes()
        if len(data) != MASTER_SIZE:
            raise KeyStoreError(f"{path}: expected {MASTER_SIZE} bytes, found {len(data)}")
        return data

    @staticmethod
    def _check_salt(salt: str) -> None:
        if not isinstance(salt, str) or not _SALT_RE.fullmatch(salt):
            raise ValueError(f"key salt must be 16-128 characters of [A-Za-z0-9_-] (see new_salt()), got {salt!r}")

    def _rsa_path(self, salt: str) -> Path:
        return self.state_dir / "rsa" / f"{salt}.pem"

    def instance_key(self, salt: str, key_type: str = "ed25519") -> KeyPair:
        """The key pair of the instance whose salt is ``salt``.

        Ed25519: derived, identical for the same master secret and salt.
        RSA: generated on first request for ``salt`` and stored in the state dir.
        """
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        self._check_salt(salt)
        if key_type == "ed25519":
            seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), info=_HKDF_INFO).derive(self._master)
            key: Ed25519PrivateKey | RSAPrivateKey = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        elif key_type == "rsa":
            key = self._rsa_key(salt)
        else:
            raise ValueError(f"unsupported key type {key_type!r}; use 'ed25519' or 'rsa'")
        return KeyPair(
            private_key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
            public_key_openssh=key.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode(),
        )

    def _rsa_key(self, salt: str) -> RSAPrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = self._rsa_path(salt)
        _ensure_private_dir(path.parent)
        if not path.exists():
            new = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
            pem = new.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if _write_new_private_file(path, pem):
                return new
            # another process won the race: use its key
        _check_private_file(path)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise KeyStoreError(f"{path}: not an RSA private key")
        return loaded

    def forget(self, salt: str) -> None:
        """Delete what is stored for ``salt`` (its RSA key file); no-op otherwise."""
        self._check_salt(salt)
        self._rsa_path(salt).unlink(missing_ok=True)
