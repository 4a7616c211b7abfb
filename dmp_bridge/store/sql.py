"""The DMP store on SQL (SQLite or PostgreSQL), SQLAlchemy Core, async (DMP-DOC-1).

Each change is one write transaction (``sql_write.WriteGate``: ``BEGIN IMMEDIATE`` on SQLite,
the store's writers queued in-process): the document row, its sealed content and the parent's
deprecation commit together and, with ``file_all``, every document of a submission with its trace
and notifications (DMP-AUD-1) — one commit, one fsync, for all of them. On PostgreSQL the replaced
or deleted row is read ``FOR UPDATE``; two submissions of one uniqueId racing end as one document
and a duplicate (the loser's unique violation makes it run again, and find the winner's row).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dmp_bridge.store import rules
from dmp_bridge.store.access_sql import SqlAccessMixin
from dmp_bridge.store.batch import Batch, references
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
from dmp_bridge.store.sql_write import WriteGate, insert_ignore, notification_row, trace_row
from dmp_bridge.store.tables import contents, documents, notifications, records, traces

RACE_ATTEMPTS = 3  # a submission that lost a uniqueId race runs again (then it is a duplicate)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlDmpStore(SqlAccessMixin):
    """``DmpStore`` on an ``AsyncEngine`` whose schema is ``dmp_bridge.store.tables``
    (access facts, traces and notifications: ``access_sql``)."""

    def __init__(
        self, engine: AsyncEngine, sealer: Sealer, clock: Callable[[], datetime] = _now
    ) -> None:
        self._engine = engine
        self._sealer = sealer
        self._clock = clock
        self._gate = WriteGate(engine)
        self._queue: list[_Request] = []  # SQLite: file_all calls waiting for their turn

    async def ensure_record(self, ins: str) -> DmpRecord:
        async with self._gate.begin() as conn:
            await conn.execute(
                insert_ignore(conn, records).values(ins=ins, created_at=self._clock())
            )
            row = (await conn.execute(select(records).where(records.c.ins == ins))).one()
        return DmpRecord(row.ins, row.created_at)

    async def file(self, document: NewDocument, content: bytes) -> FilingResult:
        [result] = await self.file_all([Filing(document, content)])
        return result

    async def file_all(
        self, filings: Sequence[Filing], audit: Audit | None = None
    ) -> tuple[FilingResult, ...]:
        if not filings:
            return ()
        request = _Request(tuple(filings), audit, asyncio.get_running_loop().create_future())
        if not self._gate.serial:  # PostgreSQL: transactions side by side
            await self._run([request])
            return request.future.result()
        self._queue.append(request)
        try:
            async with self._gate.turn():
                if not request.future.done():  # else it went with the group before
                    group = [r for r in self._queue if not r.future.done()]
                    self._queue = []
                    await self._run(group if request in group else [*group, request])
        except asyncio.CancelledError:
            if not request.future.cancel() and not request.future.cancelled():
                request.future.exception()  # decided all the same: retrieved, not lost in logs
            raise
        return request.future.result()

    async def _run(self, group: list[_Request]) -> None:
        """File ``group`` in one transaction, setting each request's future; a storage error
        with several requests files each one alone (whoever caused it fails alone)."""
        try:
            try:
                outcomes = await self._transaction(group)
            except Exception as error:
                if len(group) == 1:
                    outcomes = [error]
                else:
                    for request in group:
                        await self._run([request])
                    return
        except asyncio.CancelledError:  # the others go back in the queue for their turn
            self._queue[:0] = [r for r in group if not r.future.done() and r not in self._queue]
            raise
        for request, outcome in zip(group, outcomes, strict=True):
            if request.future.done():
                continue
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    async def _transaction(
        self, group: list[_Request]
    ) -> list[tuple[FilingResult, ...] | BaseException]:
        attempt = 1
        while True:
            try:
                async with self._gate.transaction() as conn:
                    return await self._file_group(conn, group)
            except IntegrityError:  # a racing twin won (DMP-DOC-1): now it is a duplicate
                if attempt >= RACE_ATTEMPTS:
                    raise
                attempt += 1

    async def _file_group(
        self, conn: AsyncConnection, group: list[_Request]
    ) -> list[tuple[FilingResult, ...] | BaseException]:
        """Read what the group refers to, decide each request (``batch.Batch``), write."""
        filings = [filing for request in group for filing in request.filings]
        patients = {filing.document.patient_ins for filing in filings}
        known = select(records.c.ins).where(records.c.ins.in_(patients))
        referred = select(documents).where(documents.c.unique_id.in_(references(filings)))
        if conn.dialect.name != "sqlite":  # the rows a replacement deprecates, or a duplicate
            referred = referred.with_for_update()
        batch = Batch(
            records=set((await conn.execute(known)).scalars()),
            view={row.unique_id: _document_of(row) for row in await conn.execute(referred)},
            sealer=self._sealer,
            clock=self._clock,
        )
        outcomes: list[tuple[FilingResult, ...] | BaseException] = []
        for request in group:
            try:
                outcomes.append(batch.attempt(request.filings, request.audit))
            except Exception as error:  # this request only: the batch is as it was before it
                outcomes.append(error)
        await _write(conn, batch)
        return outcomes

    async def delete(
        self, entry_id: UUID, actor_author: str, actor_org: str | None
    ) -> StoredDocument:
        async with self._gate.begin() as conn:
            document = await _one(conn, documents.c.entry_id == str(entry_id), lock=True)
            if document is None:
                raise UnknownDocument("no such DMP document")
            if not rules.check_deletion(document, actor_author, actor_org):
                return document
            await _set_status(conn, document, DocumentStatus.DELETED)
        return rules.with_status(document, DocumentStatus.DELETED)

    async def get(self, entry_id: UUID) -> StoredDocument:
        async with self._engine.connect() as conn:
            document = await _one(conn, documents.c.entry_id == str(entry_id))
        if document is None:
            raise UnknownDocument("no such DMP document")
        return document

    async def content(self, entry_id: UUID) -> bytes:
        document = await self.get(entry_id)
        query = select(contents.c.content).where(contents.c.sha256 == document.content_key)
        async with self._engine.connect() as conn:
            sealed = (await conn.execute(query)).scalar_one_or_none()
        try:
            if sealed is None:
                raise CorruptContent("a stored DMP document has lost its content")
            plain = self._sealer.open(document.content_key, sealed)
        except Exception as error:  # a missing or tampered seal, whatever the sealer raises
            raise CorruptContent("a stored DMP document cannot be opened") from error
        return rules.check_content(document, plain)

    async def list_documents(
        self, ins: str, include_deprecated: bool = False
    ) -> tuple[StoredDocument, ...]:
        shown = [DocumentStatus.APPROVED.value]
        if include_deprecated:
            shown.append(DocumentStatus.DEPRECATED.value)
        query = (
            select(documents)
            .where(documents.c.ins == ins, documents.c.status.in_(shown))
            .order_by(documents.c.submission_time, documents.c.unique_id)
        )
        return await self._all(query)

    async def versions(self, set_id: str) -> tuple[StoredDocument, ...]:
        query = (
            select(documents)
            .where(documents.c.set_id == set_id)
            .order_by(documents.c.version, documents.c.submission_time, documents.c.unique_id)
        )
        return await self._all(query)

    async def _all(self, query: Select[Any]) -> tuple[StoredDocument, ...]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(_document_of(row) for row in rows)


@dataclass(frozen=True, slots=True, eq=False)  # each call is itself, even with equal filings
class _Request:
    """One ``file_all`` call waiting for its turn (SQLite: requests queued meanwhile share it)."""

    filings: tuple[Filing, ...]
    audit: Audit | None
    future: asyncio.Future[tuple[FilingResult, ...]]


async def _write(conn: AsyncConnection, batch: Batch) -> None:
    """What ``batch`` decided, one statement per table (DMP-DOC-1, DMP-AUD-1)."""
    if batch.contents:
        rows = [{"sha256": key, "content": sealed} for key, sealed in batch.contents.items()]
        await conn.execute(insert_ignore(conn, contents), rows)
    if batch.documents:
        await conn.execute(insert(documents), [_row_of(d) for d in batch.documents])
    if batch.statuses:
        await conn.execute(
            update(documents)
            .where(documents.c.entry_id == bindparam("entry"))
            .values(status=bindparam("new_status")),
            [{"entry": str(e), "new_status": s.value} for e, s in batch.statuses.items()],
        )
    if batch.audit:
        await conn.execute(insert(traces), [trace_row(entry.trace) for entry in batch.audit])
        told = [notification_row(n) for entry in batch.audit for n in entry.notifications]
        if told:
            await conn.execute(insert(notifications), told)


async def _one(
    conn: AsyncConnection, condition: Any, *, lock: bool = False
) -> StoredDocument | None:
    query = select(documents).where(condition)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _document_of(row)


async def _set_status(
    conn: AsyncConnection, document: StoredDocument | None, status: DocumentStatus
) -> StoredDocument | None:
    if document is None:
        return None
    await conn.execute(
        update(documents)
        .where(documents.c.entry_id == str(document.entry_id))
        .values(status=status.value)
    )
    return rules.with_status(document, status)


def _row_of(document: StoredDocument) -> dict[str, Any]:
    return {
        "entry_id": str(document.entry_id),
        "unique_id": document.unique_id,
        "set_id": document.set_id,
        "version": document.version,
        "status": document.status.value,
        "ins": document.patient_ins,
        "type_code": document.type_code,
        "class_code": document.class_code,
        "rubric": document.rubric,
        "confidentiality": " ".join(document.confidentiality),
        "author_id": document.author_id,
        "author_org": document.author_org,
        "creation_time": document.creation_time,
        "submission_time": document.submission_time,
        "sha1": document.sha1,
        "size": document.size,
        "mime_type": document.mime_type,
        "title": document.title,
        "source_message_id": document.source_message_id,
        "replaces": None if document.replaces is None else str(document.replaces),
        "replaces_unique_id": document.replaces_unique_id,
        "content_key": document.content_key,
    }


def _document_of(row: Row[Any]) -> StoredDocument:
    return StoredDocument(
        entry_id=UUID(row.entry_id),
        unique_id=row.unique_id,
        set_id=row.set_id,
        version=row.version,
        status=DocumentStatus(row.status),
        patient_ins=row.ins,
        type_code=row.type_code,
        class_code=row.class_code,
        rubric=row.rubric,
        confidentiality=tuple(row.confidentiality.split()),
        author_id=row.author_id,
        author_org=row.author_org,
        creation_time=row.creation_time,
        submission_time=row.submission_time,
        sha1=row.sha1,
        size=row.size,
        mime_type=row.mime_type,
        title=row.title,
        source_message_id=row.source_message_id,
        replaces=None if row.replaces is None else UUID(row.replaces),
        replaces_unique_id=row.replaces_unique_id,
        content_key=row.content_key,
    )
