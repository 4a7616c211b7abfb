"""Header sections sealed at rest: the same AES-256-GCM format and keys as bodies.

A header section is bound to its message's blob id through the associated data (with a suffix,
so a sealed header cannot pass for the sealed body of the same message, nor the other way).
"""

from __future__ import annotations

from collections.abc import Iterable

from mailbox_store.blobs import KeyRing, Opener, seal

_SUFFIX = ":header"


class HeaderSeal:
    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._opener = Opener(keyring)

    def seal(self, blob_id: str, header: bytes) -> bytes:
        return seal(self.keyring, blob_id + _SUFFIX, header)

    def open(self, blob_id: str, sealed: bytes) -> bytes:
        """The header section; ``BlobError`` if it is tampered or of an unknown key."""
        return self._opener.open(blob_id + _SUFFIX, sealed)

    def open_many(self, items: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """``open`` of each ``(blob_id, sealed)``, faster over a whole folder."""
        return self._opener.open_many(items, _SUFFIX)
