"""Per-instance keys: deterministic Ed25519, stored RSA, safe file modes."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fleeting_openstack.provider.keys import MASTER_FILE, KeyPair, KeyStore, KeyStoreError, new_salt


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def private_bytes_raw(pair: KeyPair) -> bytes:
    key = serialization.load_ssh_private_key(pair.private_key_pem, password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def test_state_dir_and_master_secret_are_private(tmp_path):
    state = tmp_path / "state" / "fleeting"
    KeyStore(state)
    assert mode(state) == 0o700
    assert mode(state / MASTER_FILE) == 0o600
    assert len((state / MASTER_FILE).read_bytes()) == 32


def test_same_salt_same_key_across_restarts(tmp_path):
    salt = new_salt()
    first = KeyStore(tmp_path).instance_key(salt)
    second = KeyStore(tmp_path).instance_key(salt)  # a new process: only the state dir is shared
    assert first.public_key_openssh == second.public_key_openssh
    assert private_bytes_raw(first) == private_bytes_raw(second)
    assert first.public_key_openssh.startswith("ssh-ed25519 ")
    assert first.private_key_pem.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")


def test_private_and_public_halves_match(tmp_path):
    pair = KeyStore(tmp_path).instance_key(new_salt())
    key = serialization.load_ssh_private_key(pair.private_key_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public.decode() == pair.public_key_openssh


def test_different_salts_and_different_masters_differ(tmp_path):
    store = KeyStore(tmp_path / "a")
    salt = new_salt()
    assert store.instance_key(salt).public_key_openssh != store.instance_key(new_salt()).public_key_openssh
    other = KeyStore(tmp_path / "b")
    assert store.instance_key(salt).public_key_openssh != other.instance_key(salt).public_key_openssh


def test_salts_are_random_and_not_secret_looking(tmp_path):
    salts = {new_salt() for _ in range(100)}
    assert len(salts) == 100
    assert all(len(s) == 32 and int(s, 16) >= 0 for s in salts)


def test_repr_never_shows_the_private_key(tmp_path):
    pair = KeyStore(tmp_path).instance_key(new_salt())
    body = pair.private_key_pem.decode().splitlines()[1]
    for text in (repr(pair), str(pair), f"{pair}", repr([pair])):
        assert "PRIVATE KEY" not in text
        assert body not in text
        assert pair.public_key_openssh in text


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o644, 0o660])
def test_group_or_world_readable_secret_is_refused(tmp_path, bad_mode):
    KeyStore(tmp_path)
    os.chmod(tmp_path / MASTER_FILE, bad_mode)
    with pytest.raises(KeyStoreError) as err:
        KeyStore(tmp_path)
    assert str(tmp_path / MASTER_FILE) in str(err.value)
    assert f"{bad_mode:04o}" in str(err.value)


def test_group_writable_state_dir_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, 0o770)
    with pytest.raises(KeyStoreError, match="group/others write"):
        KeyStore(state)


def test_symlinked_secret_is_refused(tmp_path):
    state = tmp_path / "state"
    KeyStore(tmp_path / "real")
    state.mkdir(mode=0o700)
    os.symlink(tmp_path / "real" / MASTER_FILE, state / MASTER_FILE)
    with pytest.raises(KeyStoreError, match="not a regular file"):
        KeyStore(state)


def test_truncated_secret_is_refused(tmp_path):
    KeyStore(tmp_path)
    (tmp_path / MASTER_FILE).write_bytes(b"short")
    with pytest.raises(KeyStoreError, match="expected 32 bytes"):
        KeyStore(tmp_path)


def test_rsa_key_is_stored_privately_kept_and_forgotten(tmp_path):
    salt = new_salt()
    first = KeyStore(tmp_path).instance_key(salt, "rsa")
    assert first.public_key_openssh.startswith("ssh-rsa ")
    key = serialization.load_ssh_private_key(first.private_key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 3072
    stored = tmp_path / "rsa" / f"{salt}.pem"
    assert mode(stored) == 0o600 and mode(tmp_path / "rsa") == 0o700
    # after a restart the same key comes back
    assert KeyStore(tmp_path).instance_key(salt, "rsa").public_key_openssh == first.public_key_openssh
    store = KeyStore(tmp_path)
    store.forget(salt)
    assert not stored.exists()
    store.forget(salt)  # idempotent
    assert store.instance_key(salt, "rsa").public_key_openssh != first.public_key_openssh


def test_readable_rsa_file_is_refused(tmp_path):
    salt = new_salt()
    store = KeyStore(tmp_path)
    store.instance_key(salt, "rsa")
    os.chmod(tmp_path / "rsa" / f"{salt}.pem", 0o644)
    with pytest.raises(KeyStoreError):
        store.instance_key(salt, "rsa")


@pytest.mark.parametrize("salt", ["", "short", "../../etc/passwd-xxxxxxxxxxxx", "a/b" * 10, "x" * 200])
def test_salt_must_be_a_plain_token(tmp_path, salt):
    with pytest.raises(ValueError):
        KeyStore(tmp_path).instance_key(salt)


def test_unknown_key_type_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported key type"):
        KeyStore(tmp_path).instance_key(new_salt(), "dsa")
