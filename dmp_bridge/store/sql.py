"""The DMP store on SQL (SQLite or PostgreSQL), SQLAlchemy Core, async (DMP-DOC-1).

Each change is one write transaction: the document row, its sealed content and the parent's
deprecation commit together. On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (writers
queue on the busy timeout instead of failing on upgrade); on PostgreSQL the replaced or deleted row
is read ``FOR UPDATE``. Two submissions of one uniqueId racing end as one document and a duplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Row, Select, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store import rules
from dmp_bridge.store.access_sql import SqlAccessMixin
from dmp_bridge.store.errors import CorruptContent, UnknownDocument
from dmp_bridge.store.interfaces import Sealer
from dmp_bridge.store.models import (
    DmpRecord,
    DocumentStatus,
    FilingResult,
    NewDocument,
    StoredDocument,
)
from dmp_bridge.store.tables import contents, documents, records


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

    async def ensure_record(self, ins: str) -> DmpRecord:
        async with _begin_write(self._engine) as conn:
            await conn.execute(
                _insert_ignore(conn, records).values(ins=ins, created_at=self._clock())
            )
            row = (await conn.execute(select(records).where(records.c.ins == ins))).one()
        return DmpRecord(row.ins, row.created_at)

    async def file(self, document: NewDocument, content: bytes) -> FilingResult:
        try:
            async with _begin_write(self._engine) as conn:
                return await self._file(conn, document, content)
        except IntegrityError:
            existing = await self._by_unique_id(document.unique_id)
            if existing is None:
                raise
            rules.check_duplicate(existing, document)  # a racing twin won: DMP-DOC-1
            return FilingResult(existing, duplicate=True)

    async def _file(
        self, conn: AsyncConnection, document: NewDocument, content: bytes
    ) -> FilingResult:
        record = select(records.c.ins).where(records.c.ins == document.patient_ins)
        if (await conn.execute(record)).first() is None:  # DMP-MDN-1: 902
            raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)
        existing = await _one(conn, documents.c.unique_id == document.unique_id)
        if existing is not None:  # DMP-DOC-1: de-duplication on uniqueId
            rules.check_duplicate(existing, document)
            return FilingResult(existing, duplicate=True)
        parent = await self._parent(conn, document)
        if parent is not None:
            rules.check_replacement(parent, document)
        stored = rules.make_document(
            document,
            content,
            entry_id=uuid4(),
            now=self._clock(),
            replaces=parent.entry_id if parent else None,
        )
        sealed = self._sealer.seal(stored.content_key, content)
        await conn.execute(
            _insert_ignore(conn, contents).values(sha256=stored.content_key, content=sealed)
        )
        deprecated = await _set_status(conn, parent, DocumentStatus.DEPRECATED)
        await conn.execute(insert(documents).values(**_row_of(stored)))
        return FilingResult(stored, duplicate=False, deprecated=deprecated)

    async def delete(
        self, entry_id: UUID, actor_author: str, actor_org: str | None
    ) -> StoredDocument:
        async with _begin_write(self._engine) as conn:
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

    async def _by_unique_id(self, unique_id: str) -> StoredDocument | None:
        async with self._engine.connect() as conn:
            return await _one(conn, documents.c.unique_id == unique_id)

    async def _parent(self, conn: AsyncConnection, document: NewDocument) -> StoredDocument | None:
        """The replaced version, when it is in this store ((chosen) else nothing to deprecate)."""
        if document.replaces_unique_id is None:
            return None
        return await _one(conn, documents.c.unique_id == document.replaces_unique_id, lock=True)


@asynccontextmanager
async def _begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction; on SQLite, ``BEGIN IMMEDIATE`` so that reads inside it are isolated."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            raw = await conn.get_raw_connection()
            if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _insert_ignore(conn: AsyncConnection, table: Any) -> Any:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


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
