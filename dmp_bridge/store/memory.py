"""The DMP store in memory, for tests and demos; same behaviour as the SQL one (DMP-DOC-1).

Contents are sealed like in the SQL store, so a broken sealer shows up here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store import rules
from dmp_bridge.store.access_memory import MemoryAccessMixin
from dmp_bridge.store.errors import CorruptContent, UnknownDocument
from dmp_bridge.store.interfaces import Audit, Sealer
from dmp_bridge.store.models import (
    DmpRecord,
    DocumentStatus,
    Filing,
    FilingResult,
    NewDocument,
    StoredDocument,
)


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryDmpStore(MemoryAccessMixin):
    """``DmpStore`` in dictionaries, one lock for every change (access part: ``access_memory``)."""

    def __init__(self, sealer: Sealer, clock: Callable[[], datetime] = _now) -> None:
        self._sealer = sealer
        self._clock = clock
        self._lock = asyncio.Lock()
        self._records: dict[str, DmpRecord] = {}
        self._documents: dict[UUID, StoredDocument] = {}
        self._by_unique_id: dict[str, UUID] = {}
        self._contents: dict[str, bytes] = {}
        self._init_access()

    async def ensure_record(self, ins: str) -> DmpRecord:
        async with self._lock:
            return self._records.setdefault(ins, DmpRecord(ins, self._clock()))

    async def file(self, document: NewDocument, content: bytes) -> FilingResult:
        [result] = await self.file_all([Filing(document, content)])
        return result

    async def file_all(
        self, filings: Sequence[Filing], audit: Audit | None = None
    ) -> tuple[FilingResult, ...]:
        async with self._lock:
            saved = self._save()  # all or nothing, as one SQL transaction
            try:
                results = []
                for filing in filings:
                    result = self._file(filing)
                    if audit is not None:  # DMP-AUD-1: with the document, or not at all
                        entry = audit(result)
                        self._append_audit(entry.trace, entry.notifications)
                    results.append(result)
            except BaseException:
                self._restore(saved)
                raise
            return tuple(results)

    def _file(self, filing: Filing) -> FilingResult:
        document, content = filing.document, filing.content
        if document.patient_ins not in self._records:  # DMP-MDN-1: 902
            raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)
        existing = self._by_unique_id.get(document.unique_id)
        if existing is not None:  # DMP-DOC-1: de-duplication on uniqueId
            rules.check_duplicate(self._documents[existing], document)
            return FilingResult(self._documents[existing], duplicate=True)
        parent = self._parent(document)
        if parent is not None:
            rules.check_replacement(parent, document)
        stored = rules.make_document(
            document,
            content,
            entry_id=uuid4(),
            now=self._clock(),
            replaces=parent.entry_id if parent else None,
            sha1=filing.sha1,
        )
        sealed = self._sealer.seal(stored.content_key, content)
        deprecated = self._deprecate(parent)
        self._contents.setdefault(stored.content_key, sealed)
        self._documents[stored.entry_id] = stored
        self._by_unique_id[stored.unique_id] = stored.entry_id
        return FilingResult(stored, duplicate=False, deprecated=deprecated)

    def _save(self) -> _Saved:
        return _Saved(
            dict(self._documents),
            dict(self._by_unique_id),
            dict(self._contents),
            len(self._traces),
            len(self._notifications),
        )

    def _restore(self, saved: _Saved) -> None:
        self._documents = saved.documents
        self._by_unique_id = saved.by_unique_id
        self._contents = saved.contents
        del self._traces[saved.traces :]
        del self._notifications[saved.notifications :]

    async def delete(
        self, entry_id: UUID, actor_author: str, actor_org: str | None
    ) -> StoredDocument:
        async with self._lock:
            document = self._get(entry_id)
            if not rules.check_deletion(document, actor_author, actor_org):
                return document
            deleted = rules.with_status(document, DocumentStatus.DELETED)
            self._documents[entry_id] = deleted
            return deleted

    async def get(self, entry_id: UUID) -> StoredDocument:
        return self._get(entry_id)

    async def content(self, entry_id: UUID) -> bytes:
        document = self._get(entry_id)
        try:
            plain = self._sealer.open(document.content_key, self._contents[document.content_key])
        except Exception as error:  # a missing or tampered seal, whatever the sealer raises
            raise CorruptContent("a stored DMP document cannot be opened") from error
        return rules.check_content(document, plain)

    async def list_documents(
        self, ins: str, include_deprecated: bool = False
    ) -> tuple[StoredDocument, ...]:
        shown = {DocumentStatus.APPROVED} | (
            {DocumentStatus.DEPRECATED} if include_deprecated else set()
        )
        found = [d for d in self._documents.values() if d.patient_ins == ins and d.status in shown]
        return tuple(sorted(found, key=_submission_order))

    async def versions(self, set_id: str) -> tuple[StoredDocument, ...]:
        found = [d for d in self._documents.values() if d.set_id == set_id]
        return tuple(sorted(found, key=_version_order))

    def _get(self, entry_id: UUID) -> StoredDocument:
        try:
            return self._documents[entry_id]
        except KeyError:
            raise UnknownDocument("no such DMP document") from None

    def _parent(self, document: NewDocument) -> StoredDocument | None:
        """The replaced version, when it is in this store ((chosen) else nothing to deprecate)."""
        if document.replaces_unique_id is None:
            return None
        parent_id = self._by_unique_id.get(document.replaces_unique_id)
        return None if parent_id is None else self._documents[parent_id]

    def _deprecate(self, parent: StoredDocument | None) -> StoredDocument | None:
        if parent is None:
            return None
        deprecated = rules.with_status(parent, DocumentStatus.DEPRECATED)
        self._documents[parent.entry_id] = deprecated
        return deprecated


@dataclass(frozen=True, slots=True)
class _Saved:
    """What ``file_all`` puts back when one of its filings is refused."""

    documents: dict[UUID, StoredDocument]
    by_unique_id: dict[str, UUID]
    contents: dict[str, bytes]
    traces: int
    notifications: int


def _submission_order(document: StoredDocument) -> tuple[datetime, str]:
    return document.submission_time, document.unique_id


def _version_order(document: StoredDocument) -> tuple[int, datetime, str]:
    return document.version, document.submission_time, document.unique_id
