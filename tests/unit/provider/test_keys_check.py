"""What test_credentials.py leaves out of provider/keys.py: the key check value stored beside
each salt (how a lost state dir is detected), and ``KeyStore.check`` — the same refusals as
opening the store, for ``validate --check-cloud``, with nothing created."""

from __future__ import annotations

import os
import re

import pytest

from fleeting_openstack.provider.keys import MASTER_FILE, KeyStore, KeyStoreError, new_salt


def test_the_key_check_is_stable_per_master_secret_and_salt(tmp_path):
    salt = new_salt()
    store = KeyStore(tmp_path / "a")
    check = store.key_check(salt)
    assert re.fullmatch(r"[0-9a-f]{24}", check)
    assert KeyStore(tmp_path / "a").key_check(salt) == check  # another process, the same state dir
    assert store.key_check(new_salt()) != check
    assert KeyStore(tmp_path / "b").key_check(salt) != check  # another master secret


def test_the_key_check_is_computed_once_per_salt_and_remembered_within_a_bound(tmp_path, monkeypatch):
    """Every Update checks each changed server's key check: one HMAC per salt, not per Update."""
    import hmac

    from fleeting_openstack.provider import keys

    store = KeyStore(tmp_path)
    salts = [new_salt() for _ in range(3)]
    computed: list[bytes] = []
    real_new = hmac.new

    def counting_new(key, msg=None, digestmod=""):  # type: ignore[no-untyped-def]
        computed.append(msg)
        return real_new(key, msg, digestmod)

    monkeypatch.setattr(hmac, "new", counting_new)
    first = [store.key_check(s) for s in salts]
    assert [store.key_check(s) for s in salts * 3] == first * 3
    assert len(computed) == 3
    monkeypatch.setattr(keys, "MAX_REMEMBERED_CHECKS", 2)
    fresh = KeyStore(tmp_path)
    assert [fresh.key_check(s) for s in salts] == first
    assert len(computed) == 6
    assert fresh.key_check(salts[2]) == first[2] and len(computed) == 6  # the last one is remembered
    assert fresh.key_check(salts[0]) == first[0] and len(computed) == 7  # past the bound: forgotten, the same value
    with pytest.raises(ValueError, match="key salt"):
        store.key_check("../../etc/passwd")  # never remembered, refused every time
    with pytest.raises(ValueError, match="key salt"):
        store.key_check("../../etc/passwd")


def test_the_key_check_reveals_no_key(tmp_path):
    store = KeyStore(tmp_path)
    salt = new_salt()
    public = store.instance_key(salt).public_key_openssh
    assert store.key_check(salt) not in public and store.key_check(salt) not in store.master_path.read_bytes().hex()


@pytest.mark.parametrize("salt", ["", "short", "../../etc/passwd", "a" * 129, "with space and more chars"])
def test_the_key_check_refuses_a_salt_the_plugin_never_writes(tmp_path, salt):
    with pytest.raises(ValueError, match="key salt"):
        KeyStore(tmp_path).key_check(salt)


def test_check_creates_nothing(tmp_path):
    state = tmp_path / "state" / "fleeting"
    KeyStore.check(state)  # it can be created: fine
    assert not (tmp_path / "state").exists()
    state.mkdir(parents=True, mode=0o700)
    KeyStore.check(state)  # empty: the master secret can be created there
    assert list(state.iterdir()) == []


def test_check_accepts_what_opening_accepts(tmp_path):
    KeyStore(tmp_path / "good")
    KeyStore.check(tmp_path / "good")


def test_check_refuses_what_opening_refuses(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o770)
    with pytest.raises(KeyStoreError, match="group/others write"):
        KeyStore.check(loose)
    readable = tmp_path / "readable"
    KeyStore(readable)
    os.chmod(readable / MASTER_FILE, 0o644)
    with pytest.raises(KeyStoreError, match="0644"):
        KeyStore.check(readable)
    short = tmp_path / "short"
    KeyStore(short)
    (short / MASTER_FILE).write_bytes(b"short")
    with pytest.raises(KeyStoreError, match="expected 32 bytes, found 5"):
        KeyStore.check(short)
    linked = tmp_path / "linked"
    linked.mkdir(mode=0o700)
    os.symlink(readable / MASTER_FILE, linked / MASTER_FILE)
    with pytest.raises(KeyStoreError, match="not a regular file"):
        KeyStore.check(linked)
    dangling = tmp_path / "dangling"
    dangling.mkdir(mode=0o700)
    os.symlink(tmp_path / "nowhere", dangling / MASTER_FILE)
    with pytest.raises(KeyStoreError):
        KeyStore.check(dangling)
