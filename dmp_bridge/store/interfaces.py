"""The seams of the embedded DMP store: ``DmpStore`` (what the bridge uses) and ``Sealer``.

``Sealer`` encrypts document contents at rest; the composition root hands in the same sealer as
for message bodies (AES-GCM bound to the blob id). Consumers type against these Protocols; the
SQL (``dmp_bridge.store.sql``) and in-memory (``dmp_bridge.store.memory``) stores implement them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dmp_bridge.store.access_models import (
    AuditEntry,
    DocumentFlags,
    NewNotification,
    NewTrace,
    Notification,
    PatientSettings,
    Trace,
)
from dmp_bridge.store.models import DmpRecord, Filing, FilingResult, NewDocument, StoredDocument

# DMP-AUD-1: the trace (and notifications) of one filing, from its result; pure, for ``file_all``.
Audit = Callable[[FilingResult], AuditEntry]


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

    async def file_all(
        self, filings: Sequence[Filing], audit: Audit | None = None
    ) -> tuple[FilingResult, ...]:
        """File ``filings`` in order in ONE transaction, each with what ``audit`` gives for its
        result (DMP-AUD-1: its trace and notifications, so that no document is ever without
        its trace); the results in order.

        As ``file`` for each (a later filing sees the earlier ones: a replacement may follow
        its parent); all or nothing: a ``DocumentError`` on any files none of them.
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

    # --- Access facts, traces and notifications (DMP-ACL-2/3, DMP-AUD-1) ---------------------
    # Setters need the patient's record (else ``DocumentError`` 902) or the document
    # (``UnknownDocument``); readers give defaults when nothing was decided.

    async def patient_settings(self, ins: str) -> PatientSettings:
        """DMP-ACL-3: the patient's choices (defaults when none, even without a record)."""
        ...

    async def set_medecin_traitant(self, ins: str, rpps: str | None) -> None:
        """The patient's médecin traitant (``None``: none)."""
        ...

    async def set_blocked(self, ins: str, rpps: str, blocked: bool) -> None:
        """DMP-ACL-3: block (or unblock) a professional; idempotent."""
        ...

    async def set_emergency_opposition(self, ins: str, opposed: bool) -> None:
        """DMP-ACL-3: the patient opposes (or no longer opposes) emergency access."""
        ...

    async def set_legal_representative(self, ins: str, representative: str, present: bool) -> None:
        """Add (or remove) a legal representative of the patient; idempotent."""
        ...

    async def document_flags(self, entry_id: UUID) -> DocumentFlags:
        """DMP-ACL-2/3: masked by the patient, announcement consultation (defaults when none)."""
        ...

    async def record_flags(self, ins: str) -> dict[UUID, DocumentFlags]:
        """The flags of the record's documents that have any (one query, for listings)."""
        ...

    async def set_masked_by_patient(self, entry_id: UUID, masked: bool) -> None:
        """DMP-ACL-3: the patient masks (or unmasks) a document."""
        ...

    async def mark_announced(self, entry_id: UUID, at: datetime) -> DocumentFlags:
        """DMP-ACL-2: the announcement consultation took place at ``at`` (the first one counts)."""
        ...

    async def record_access(
        self,
        trace: NewTrace,
        notifications: Sequence[NewNotification] = (),
        first_access: NewNotification | None = None,
    ) -> Trace:
        """DMP-AUD-1, in one transaction: append ``trace``, queue ``notifications`` and, when
        ``trace.actor_id`` had no granted access to ``trace.ins`` before, ``first_access`` too
        (only for a granted trace: a professional is told of once, races included)."""
        ...

    async def traces(self, ins: str) -> list[Trace]:
        """DMP-AUD-1: every trace of the record ``ins``, oldest first (the patient reads them)."""
        ...

    async def notifications(self, ins: str) -> list[Notification]:
        """Every notification about the record ``ins``, oldest first."""
        ...

    async def due_notifications(self, now: datetime, limit: int = 100) -> list[Notification]:
        """Unsent notifications with ``due_at <= now``, oldest first (for the sending job)."""
        ...

    async def mark_notification_sent(self, notification_id: int, at: datetime) -> None:
        """The sending job delivered notification ``notification_id`` (the first time counts)."""
        ...
