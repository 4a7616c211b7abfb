"""The seams of the embedded DMP store: ``DmpStore`` (what the bridge uses) and ``Sealer``.

``Sealer`` encrypts document contents at rest; the composition root hands in the same sealer as
for message bodies (AES-GCM bound to the blob id). Consumers type against these Protocols; the
SQL (``dmp_bridge.store.sql``) and in-memory (``dmp_bridge.store.memory``) stores implement them.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from dmp_bridge.store.models import DmpRecord, FilingResult, NewDocument, StoredDocument


class Sealer(Protocol):
    """Seals and opens contents at rest; ``open`` raises if ``sealed`` was tampered with."""

    def seal(self, blob_id: str, data: bytes) -> bytes: ...

    def open(self, blob_id: str, sealed: bytes) -> bytes: ...


class DmpStore(Protocol):
    """Patients' records and their documents (DMP-DOC-1)."""

    async def ensure_record(self, ins: str) -> DmpRecord:
        """The record of ``ins``, created if absent (idempotent)."""
        ...

    async def file(self, document: NewDocument, content: bytes) -> FilingResult:
        """File ``document`` with its ``content`` in one transaction.

        DMP-DOC-1: an already filed ``unique_id`` gives the existing entry with
        ``duplicate=True``; a replacement (RPLC) deprecates its parent. ``DocumentError`` with
        code 902 (no record), 900 (parent not the latest version), 901 (not the parent's author
        nor its organisation) or 904 (the unique id or the parent belongs to another patient).
        """
        ...

    async def delete(
        self, entry_id: UUID, actor_author: str, actor_org: str | None
    ) -> StoredDocument:
        """DMP-DOC-1: logical deletion by the author (or the author's organisation) only (901);
        a deprecated version cannot be deleted (900); deleting twice changes nothing."""
        ...

    async def get(self, entry_id: UUID) -> StoredDocument:
        """The document ``entry_id``; ``UnknownDocument`` if none."""
        ...

    async def content(self, entry_id: UUID) -> bytes:
        """The plaintext content, its SHA-1, SHA-256 and size re-checked (``CorruptContent``)."""
        ...

    async def list_documents(
        self, ins: str, include_deprecated: bool = False
    ) -> tuple[StoredDocument, ...]:
        """The record's documents by submission time: approved ones (and deprecated ones if
        asked); logically deleted ones never."""
        ...

    async def versions(self, set_id: str) -> tuple[StoredDocument, ...]:
        """Every version of the logical document ``set_id``, oldest first, whatever its status."""
        ...
