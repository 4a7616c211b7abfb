"""Message bodies as content-addressed, encrypted blobs.

A blob id is the SHA-256 hex digest of the plaintext. ``FileBlobStore`` keeps one file per blob at
``root/ab/<id>``, encrypted with AES-256-GCM under the active key of a ``KeyRing``; the key id is
stored in the file so that older keys keep working after a rotation. File layout::

    b"MSB" | version (1 byte) | key id length (1 byte) | key id (UTF-8) | nonce (12) | sealed

``sealed`` is the AES-GCM ciphertext and tag. The associated data binds it to its blob id and key
id, so a file copied under another id, or with its key id edited, fails authentication like any
tampered byte.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from config.settings import StorageSettings
from mailbox_store.errors import BlobError, StorageUnavailable

MAGIC = b"MSB"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
_BLOB_ID = re.compile(r"[0-9a-f]{64}")


def blob_id_of(data: bytes) -> str:
    """The content address of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """Blob keys by id; ``active_key`` encrypts new blobs, every key decrypts."""

    keys: Mapping[str, bytes] = field(repr=False)  # secrets never reach a log line
    active_key: str

    def __post_init__(self) -> None:
        if self.active_key not in self.keys:
            raise ValueError(f"blob key ring: active key {self.active_key!r} is not configured")
        for key_id, key in self.keys.items():
            if not key_id or len(key_id.encode()) > 255:
                raise ValueError(f"blob key ring: bad key id {key_id!r} (1 to 255 bytes)")
            if len(key) != KEY_BYTES:
                raise ValueError(f"blob key ring: key {key_id!r} is not {KEY_BYTES} bytes")

    @classmethod
    def from_settings(cls, storage: StorageSettings) -> KeyRing:
        keys = {
            kid: _decode_key(kid, secret.get_secret_value()) for kid, secret in storage.keys.items()
        }
        return cls(keys=keys, active_key=storage.active_key)

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise BlobError(f"blob encrypted with unknown key id {key_id!r}") from None


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"blob key ring: key {key_id!r} is not valid base64") from None


def seal(keyring: KeyRing, blob_id: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` under the active key into the file layout above."""
    key_id = keyring.active_key.encode()
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = _associated_data(blob_id, key_id)
    sealed = _aead(keyring.key(keyring.active_key)).encrypt(nonce, plaintext, aad)
    return MAGIC + bytes([VERSION, len(key_id)]) + key_id + nonce + sealed


def unseal(keyring: KeyRing, blob_id: str, raw: bytes) -> bytes:
    """Decrypt a blob file; ``BlobError`` if it is malformed, of an unknown key, or tampered."""
    header = len(MAGIC) + 2
    if len(raw) < header or raw[: len(MAGIC)] != MAGIC or raw[len(MAGIC)] != VERSION:
        raise BlobError(f"blob {blob_id} has an unknown format")
    key_end = header + raw[len(MAGIC) + 1]
    key_id = raw[header:key_end]
    nonce = raw[key_end : key_end + NONCE_BYTES]
    if len(nonce) != NONCE_BYTES:
        raise BlobError(f"blob {blob_id} is truncated")
    key = keyring.key(key_id.decode(errors="replace"))
    try:
        return _aead(key).decrypt(
            nonce, raw[key_end + NONCE_BYTES :], _associated_data(blob_id, key_id)
        )
    except InvalidTag:
        raise BlobError(f"blob {blob_id} fails authentication (tampered or wrong key)") from None


class Opener:
    """``unseal`` for many small sealed values in a row (header sections of a whole folder):
    the same checks and errors, with the cipher of each key id looked up once."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        self._ciphers: dict[bytes, AESGCM] = {}

    def open(self, blob_id: str, raw: bytes) -> bytes:
        if len(raw) < 5 or raw[:4] != _PREFIX:
            return unseal(self._keyring, blob_id, raw)  # raises the right BlobError
        key_end = 5 + raw[4]
        key_id = raw[5:key_end]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = _aead(
                self._keyring.key(key_id.decode(errors="replace"))
            )
        try:
            return cipher.decrypt(
                raw[key_end : key_end + NONCE_BYTES],
                raw[key_end + NONCE_BYTES :],
                _associated_data(blob_id, key_id),
            )
        except (InvalidTag, ValueError):
            raise BlobError(
                f"blob {blob_id} fails authentication (tampered or wrong key)"
            ) from None

    def open_many(self, items: Iterable[tuple[str, bytes]], suffix: str = "") -> list[bytes]:
        """``open(blob_id + suffix, raw)`` of each item: the loop of a folder-wide scan, with
        the common case (current format, a key already used) inlined."""
        ciphers, opened, tail = self._ciphers, [], suffix.encode()
        for blob_id, raw in items:
            key_end = 5 + raw[4] if len(raw) > 5 and raw[:4] == _PREFIX else 0
            cipher = ciphers.get(raw[5:key_end]) if key_end else None
            if cipher is None:
                opened.append(self.open(blob_id + suffix, raw))
                continue
            aad = b"mss-blob\x00" + blob_id.encode() + tail + b"\x00" + raw[5:key_end]
            nonce_end = key_end + NONCE_BYTES
            try:
                opened.append(cipher.decrypt(raw[key_end:nonce_end], raw[nonce_end:], aad))
            except (InvalidTag, ValueError):
                raise BlobError(f"blob {blob_id} fails authentication") from None
        return opened


_PREFIX = MAGIC + bytes([VERSION])


@functools.lru_cache(maxsize=16)
def _aead(key: bytes) -> AESGCM:
    """One cipher object per key: building one costs more than opening a header section."""
    return AESGCM(key)


def _associated_data(blob_id: str, key_id: bytes) -> bytes:
    return b"mss-blob\x00" + blob_id.encode() + b"\x00" + key_id


class FileBlobStore:
    """Encrypted blobs in a folder tree; ``put`` is durable when it returns (with ``fsync``).

    Layout: ``root/<first two hex digits>/<blob id>``: 256 folders, all made early, so a put
    seldom creates one. A put is one temporary file written and fsync'ed, renamed into place,
    and its folder fsync'ed so the new name survives a crash.
    """

    def __init__(self, root: Path, keyring: KeyRing, *, fsync: bool = True) -> None:
        self._root = root
        self._keyring = keyring
        self._fsync = fsync
        self._folders: set[str] = set()  # folders known to exist (and to be durable)

    async def put(self, data: bytes) -> str:
        try:
            return await asyncio.to_thread(self._put, data)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write blob: {exc.strerror}") from exc

    async def get(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self._get, blob_id)

    def path_of(self, blob_id: str) -> Path:
        if not _BLOB_ID.fullmatch(blob_id):
            raise BlobError(f"not a blob id: {blob_id[:80]!r}")
        return self._root / blob_id[:2] / blob_id

    def _put(self, data: bytes) -> str:
        blob_id = blob_id_of(data)
        path = str(self.path_of(blob_id))
        if os.path.exists(path):  # content-addressed: same id, same plaintext
            return blob_id
        folder = os.path.dirname(path)
        self._make_folder(folder)
        self._write_atomically(path, folder, seal(self._keyring, blob_id, data))
        return blob_id

    def _get(self, blob_id: str) -> bytes:
        try:
            raw = self.path_of(blob_id).read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {blob_id} is missing") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read blob {blob_id}: {exc.strerror}") from exc
        return unseal(self._keyring, blob_id, raw)

    def _make_folder(self, folder: str) -> None:
        """Create the folder (and the root) if missing; each new entry made durable."""
        if folder in self._folders:
            return
        missing: list[str] = []
        current = folder
        while not os.path.isdir(current):
            missing.append(current)
            current = os.path.dirname(current)
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(new)
            self._sync_folder(os.path.dirname(new))
        self._folders.add(folder)

    def _write_atomically(self, path: str, folder: str, content: bytes) -> None:
        temp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(content)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        self._sync_folder(folder)

    def _sync_folder(self, folder: str) -> None:
        if not self._fsync:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MemoryBlobStore:
    """Plain bodies in a dict, for tests and the in-memory mailbox store."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, data: bytes) -> str:
        blob_id = blob_id_of(data)
        self._blobs.setdefault(blob_id, data)
        return blob_id

    async def get(self, blob_id: str) -> bytes:
        try:
            return self._blobs[blob_id]
        except KeyError:
            raise BlobError(f"blob {blob_id[:80]} is missing") from None
