"""Access facts, traces and notifications on SQL (DMP-ACL-2/3, DMP-AUD-1), for ``SqlDmpStore``.

``record_access`` is one transaction: the trace, its notifications and, for a professional's first
granted access, the ``dmp_first_accesses`` row whose primary key makes "first" true exactly once
(two racing first accesses queue one notification; ``sql_write.append_audit``). ``dmp_traces``
refuses UPDATE and DELETE. Writes go through the store's ``WriteGate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.access_models import (
    AccessMode,
    Action,
    ActorKind,
    DocumentFlags,
    NewNotification,
    NewTrace,
    Notification,
    NotificationKind,
    PatientSettings,
    Reason,
    RecipientKind,
    Trace,
)
from dmp_bridge.store.errors import UnknownDocument
from dmp_bridge.store.sql_write import WriteGate, append_audit, insert_ignore
from dmp_bridge.store.tables import (
    blocked_professionals,
    document_flags,
    documents,
    legal_representatives,
    notifications,
    patient_settings,
    records,
    traces,
)


class SqlAccessMixin:
    """The access part of ``DmpStore`` on the SQL store's engine."""

    _engine: AsyncEngine
    _gate: WriteGate

    async def patient_settings(self, ins: str) -> PatientSettings:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(patient_settings).where(patient_settings.c.ins == ins))
            ).first()
            blocked = await _values(conn, blocked_professionals.c.rpps, ins)
            representatives = await _values(conn, legal_representatives.c.representative, ins)
        return PatientSettings(
            ins=ins,
            medecin_traitant=None if row is None else row.medecin_traitant,
            opposes_emergency=False if row is None else bool(row.opposes_emergency),
            blocked=blocked,
            legal_representatives=representatives,
        )

    async def set_medecin_traitant(self, ins: str, rpps: str | None) -> None:
        await self._upsert_settings(ins, medecin_traitant=rpps)

    async def set_emergency_opposition(self, ins: str, opposed: bool) -> None:
        await self._upsert_settings(ins, opposes_emergency=opposed)

    async def set_blocked(self, ins: str, rpps: str, blocked: bool) -> None:
        await self._set_member(blocked_professionals, "rpps", ins, rpps, blocked)

    async def set_legal_representative(self, ins: str, representative: str, present: bool) -> None:
        table = legal_representatives
        await self._set_member(table, "representative", ins, representative, present)

    async def document_flags(self, entry_id: UUID) -> DocumentFlags:
        query = select(document_flags).where(document_flags.c.entry_id == str(entry_id))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return DocumentFlags(entry_id) if row is None else _flags_of(row)

    async def record_flags(self, ins: str) -> dict[UUID, DocumentFlags]:
        query = (
            select(document_flags)
            .join(documents, documents.c.entry_id == document_flags.c.entry_id)
            .where(documents.c.ins == ins)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {flags.entry_id: flags for flags in map(_flags_of, rows)}

    async def set_masked_by_patient(self, entry_id: UUID, masked: bool) -> None:
        async with self._gate.begin() as conn:
            await _ensure_flags(conn, entry_id)
            await conn.execute(
                update(document_flags)
                .where(document_flags.c.entry_id == str(entry_id))
                .values(masked_by_patient=masked)
            )

    async def mark_announced(self, entry_id: UUID, at: datetime) -> DocumentFlags:
        async with self._gate.begin() as conn:
            await _ensure_flags(conn, entry_id)
            await conn.execute(
                update(document_flags)
                .where(
                    document_flags.c.entry_id == str(entry_id),
                    document_flags.c.announced_at.is_(None),
                )
                .values(announced_at=at)
            )
            query = select(document_flags).where(document_flags.c.entry_id == str(entry_id))
            return _flags_of((await conn.execute(query)).one())

    async def record_access(
        self,
        trace: NewTrace,
        notifications: Sequence[NewNotification] = (),
        first_access: NewNotification | None = None,
    ) -> Trace:
        async with self._gate.begin() as conn:
            trace_id = await append_audit(conn, trace, notifications, first_access)
        return trace.stored(trace_id)

    async def traces(self, ins: str) -> list[Trace]:
        query = select(traces).where(traces.c.ins == ins).order_by(traces.c.id)
        async with self._engine.connect() as conn:
            return [_trace_of(row) for row in (await conn.execute(query)).all()]

    async def notifications(self, ins: str) -> list[Notification]:
        table = _notifications
        query = select(table).where(table.c.ins == ins).order_by(table.c.id)
        async with self._engine.connect() as conn:
            return [_notification_of(row) for row in (await conn.execute(query)).all()]

    async def due_notifications(self, now: datetime, limit: int = 100) -> list[Notification]:
        table = _notifications
        query = (
            select(table)
            .where(table.c.sent_at.is_(None), table.c.due_at <= now)
            .order_by(table.c.due_at, table.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_notification_of(row) for row in (await conn.execute(query)).all()]

    async def mark_notification_sent(self, notification_id: int, at: datetime) -> None:
        table = _notifications
        async with self._gate.begin() as conn:
            await conn.execute(
                update(table)
                .where(table.c.id == notification_id, table.c.sent_at.is_(None))
                .values(sent_at=at)
            )

    async def _upsert_settings(self, ins: str, **values: Any) -> None:
        async with self._gate.begin() as conn:
            await _check_record(conn, ins)
            await conn.execute(
                insert_ignore(conn, patient_settings).values(
                    ins=ins, medecin_traitant=None, opposes_emergency=False
                )
            )
            await conn.execute(
                update(patient_settings).where(patient_settings.c.ins == ins).values(**values)
            )

    async def _set_member(
        self, table: Any, column: str, ins: str, value: str, present: bool
    ) -> None:
        async with self._gate.begin() as conn:
            await _check_record(conn, ins)
            if present:
                await conn.execute(insert_ignore(conn, table).values(ins=ins, **{column: value}))
            else:
                await conn.execute(
                    delete(table).where(table.c.ins == ins, table.c[column] == value)
                )


_notifications = notifications  # the table; the mixin's method of the same name shadows it


async def _check_record(conn: AsyncConnection, ins: str) -> None:
    if (await conn.execute(select(records.c.ins).where(records.c.ins == ins))).first() is None:
        raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)  # 902


async def _ensure_flags(conn: AsyncConnection, entry_id: UUID) -> None:
    known = select(documents.c.entry_id).where(documents.c.entry_id == str(entry_id))
    if (await conn.execute(known)).first() is None:
        raise UnknownDocument("no such DMP document")
    await conn.execute(
        insert_ignore(conn, document_flags).values(
            entry_id=str(entry_id), masked_by_patient=False, announced_at=None
        )
    )


async def _values(conn: AsyncConnection, column: Any, ins: str) -> frozenset[str]:
    rows = (await conn.execute(select(column).where(column.table.c.ins == ins))).scalars()
    return frozenset(rows)


def _flags_of(row: Row[Any]) -> DocumentFlags:
    return DocumentFlags(
        entry_id=UUID(row.entry_id),
        masked_by_patient=bool(row.masked_by_patient),
        announced_at=row.announced_at,
    )


def _trace_of(row: Row[Any]) -> Trace:
    return Trace(
        id=int(row.id),
        ins=row.ins,
        at=row.at,
        actor_kind=ActorKind(row.actor_kind),
        actor_id=row.actor_id,
        action=Action(row.action),
        mode=AccessMode(row.mode),
        allowed=bool(row.allowed),
        reason=Reason(row.reason),
        entry_id=None if row.entry_id is None else UUID(row.entry_id),
        profession=row.profession,
        justification=row.justification,
    )


def _notification_of(row: Row[Any]) -> Notification:
    return Notification(
        id=int(row.id),
        ins=row.ins,
        kind=NotificationKind(row.kind),
        recipient_kind=RecipientKind(row.recipient_kind),
        recipient=row.recipient,
        created_at=row.created_at,
        due_at=row.due_at,
        actor_id=row.actor_id,
        entry_id=None if row.entry_id is None else UUID(row.entry_id),
        sent_at=row.sent_at,
    )
