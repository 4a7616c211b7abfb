"""Encrypted content-addressed blobs: round trip, idempotence, tampering, keys and rotation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.settings import StorageSettings
from mailbox_store.blobs import MAGIC, FileBlobStore, KeyRing, MemoryBlobStore
from mailbox_store.errors import BlobError

BODY = b"Subject: compte rendu\r\n\r\nPatient DUPONT Jean, ne le 01/02/1960: bilan normal.\r\n"


def new_key() -> bytes:
    return secrets.token_bytes(32)


def ring(active: str = "k1", **keys: bytes) -> KeyRing:
    return KeyRing(keys or {"k1": new_key()}, active_key=active)


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def flip_byte(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


# --- the key ring ---------------------------------------------------------------------------


def settings(keys: dict[str, bytes | str], active: str) -> StorageSettings:
    encoded = {
        kid: SecretStr(k if isinstance(k, str) else base64.b64encode(k).decode())
        for kid, k in keys.items()
    }
    return StorageSettings(keys=encoded, active_key=active)


def test_keyring_from_settings_decodes_base64_keys() -> None:
    k1, k2 = new_key(), new_key()
    keyring = KeyRing.from_settings(settings({"k1": k1, "k2": k2}, "k2"))
    assert keyring.keys == {"k1": k1, "k2": k2}
    assert keyring.active_key == "k2"


def test_keyring_refuses_a_missing_active_key() -> None:
    with pytest.raises(ValueError, match="active key"):
        KeyRing.from_settings(settings({"k1": new_key()}, "k2"))
    with pytest.raises(ValueError, match="active key"):
        KeyRing.from_settings(StorageSettings())


def test_keyring_refuses_a_key_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing.from_settings(settings({"k1": new_key(), "short": b"x" * 16}, "k1"))


def test_keyring_refuses_bad_base64() -> None:
    with pytest.raises(ValueError, match="base64"):
        KeyRing.from_settings(settings({"k1": "not base64!"}, "k1"))


def test_keyring_repr_shows_no_key_material() -> None:
    key = new_key()
    shown = repr(KeyRing({"k1": key}, active_key="k1"))
    assert repr(key) not in shown
    assert base64.b64encode(key).decode() not in shown


# --- the file store -------------------------------------------------------------------------


async def test_round_trip_with_fsync(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring(), fsync=True)
    blob_id = await store.put(BODY)
    assert blob_id == hashlib.sha256(BODY).hexdigest()
    assert await store.get(blob_id) == BODY
    assert blob_files(tmp_path) == [tmp_path / blob_id[:2] / blob_id]


async def test_empty_and_large_bodies_round_trip(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring(), fsync=False)
    large = secrets.token_bytes(3 * 1024 * 1024)
    for body in (b"", large):
        assert await store.get(await store.put(body)) == body


async def test_same_content_gives_same_id_and_one_file(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring())
    first = await store.put(BODY)
    [path] = blob_files(tmp_path)
    written = path.read_bytes()
    assert await store.put(BODY) == first
    assert blob_files(tmp_path) == [path]
    assert path.read_bytes() == written  # the second put did not rewrite it
    ids = await asyncio.gather(*(store.put(BODY + b"!") for _ in range(10)))
    assert len(set(ids)) == 1
    assert len(blob_files(tmp_path)) == 2  # and no temporary file left behind


async def test_file_on_disk_does_not_contain_the_plaintext(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring())
    blob_id = await store.put(BODY)
    [path] = blob_files(tmp_path)
    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    assert b"DUPONT" not in raw
    assert b"compte rendu" not in raw
    assert blob_id.encode() not in raw


async def test_two_puts_of_one_body_encrypt_with_fresh_nonces(tmp_path: Path) -> None:
    keyring = ring()
    one, two = FileBlobStore(tmp_path / "a", keyring), FileBlobStore(tmp_path / "b", keyring)
    await one.put(BODY)
    await two.put(BODY)
    [a], [b] = blob_files(tmp_path / "a"), blob_files(tmp_path / "b")
    assert a.read_bytes() != b.read_bytes()


@pytest.mark.parametrize("where", ["ciphertext", "tag", "nonce", "key id", "magic"])
async def test_a_tampered_byte_is_a_blob_error(tmp_path: Path, where: str) -> None:
    store = FileBlobStore(tmp_path, ring())
    blob_id = await store.put(BODY)
    [path] = blob_files(tmp_path)
    key_id_at = len(MAGIC) + 2
    nonce_at = key_id_at + len("k1")
    offsets = {
        "magic": 0,
        "key id": key_id_at,
        "nonce": nonce_at,
        "ciphertext": nonce_at + 12 + 5,
        "tag": path.stat().st_size - 1,
    }
    flip_byte(path, offsets[where])
    with pytest.raises(BlobError):
        await store.get(blob_id)


async def test_a_truncated_file_is_a_blob_error(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring())
    blob_id = await store.put(BODY)
    [path] = blob_files(tmp_path)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(BlobError):
        await store.get(blob_id)


async def test_a_blob_copied_under_another_id_fails(tmp_path: Path) -> None:
    """The blob id is authenticated: swapping two files is detected."""
    store = FileBlobStore(tmp_path, ring())
    real, other = await store.put(BODY), await store.put(b"another message")
    store.path_of(other).write_bytes(store.path_of(real).read_bytes())
    with pytest.raises(BlobError):
        await store.get(other)


async def test_wrong_key_is_a_blob_error(tmp_path: Path) -> None:
    blob_id = await FileBlobStore(tmp_path, ring(k1=new_key())).put(BODY)
    with pytest.raises(BlobError, match="authentication"):
        await FileBlobStore(tmp_path, ring(k1=new_key())).get(blob_id)


async def test_unknown_key_id_is_a_blob_error(tmp_path: Path) -> None:
    blob_id = await FileBlobStore(tmp_path, ring("k1", k1=new_key())).put(BODY)
    with pytest.raises(BlobError, match="unknown key"):
        await FileBlobStore(tmp_path, ring("k2", k2=new_key())).get(blob_id)


async def test_key_rotation_keeps_old_blobs_readable(tmp_path: Path) -> None:
    k1, k2 = new_key(), new_key()
    old_id = await FileBlobStore(tmp_path, ring("k1", k1=k1)).put(BODY)
    rotated = FileBlobStore(tmp_path, ring("k2", k1=k1, k2=k2))
    new_id = await rotated.put(b"written after the rotation")
    assert await rotated.get(old_id) == BODY
    assert await rotated.get(new_id) == b"written after the rotation"
    assert b"k2" in rotated.path_of(new_id).read_bytes()[: len(MAGIC) + 4]
    retired = FileBlobStore(tmp_path, ring("k2", k2=k2))
    with pytest.raises(BlobError):
        await retired.get(old_id)


async def test_missing_blob_is_a_blob_error(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path, ring())
    with pytest.raises(BlobError, match="missing"):
        await store.get(hashlib.sha256(b"never stored").hexdigest())


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "ABCD" * 16, "a" * 63, ""])
async def test_a_malformed_id_never_reaches_the_file_system(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(BlobError, match="not a blob id"):
        await FileBlobStore(tmp_path, ring()).get(bad_id)


async def test_put_leaves_the_event_loop_free(tmp_path: Path) -> None:
    """The file work runs in a thread: other tasks keep running during a large put."""
    store = FileBlobStore(tmp_path, ring(), fsync=True)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await store.put(secrets.token_bytes(16 * 1024 * 1024))
    task.cancel()
    assert ticks > 1


# --- the memory store -----------------------------------------------------------------------


async def test_memory_blob_store_round_trip_and_missing() -> None:
    store = MemoryBlobStore()
    blob_id = await store.put(BODY)
    assert blob_id == hashlib.sha256(BODY).hexdigest()
    assert await store.put(BODY) == blob_id
    assert await store.get(blob_id) == BODY
    with pytest.raises(BlobError):
        await store.get("0" * 64)
