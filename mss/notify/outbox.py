"""The durable outbox of new-message notifications (MSS-PAT-7) and the sending state of the DMP
outbox's rows (DMP-AUD-1), on SQL (SQLite and PostgreSQL).

Coalescing (MSS-PAT-7, chosen): at most one notification per patient per ``window``. A message
for a patient joins the patient's gathering row when there is one (its count grows, the
sender's name is added); otherwise a new row is made, due at once, or ``window`` after the
previous row's due time when that is later. A row stops gathering when the sending job claims it.

Claims are compare-and-set updates of ``next_attempt_at`` (the lease): two nodes never send the
same row at once, and a row claimed by a node that crashed comes due again after the lease.
Sending is at least once: a crash between the smarthost's ``250`` and the mark sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store.dialect import begin_write, insert_ignore, is_sqlite
from mss.notify.tables import dmp_attempts, patient_notifications

MAX_NAMES = 5  # distinct senders named in one notification; more are counted, not named
MAX_ERROR = 200


class State(StrEnum):
    PENDING = "pending"  # to send (gathering while pending_key is set)
    SENT = "sent"
    SKIPPED = "skipped"  # no personal address: nobody to tell
    EXPIRED = "expired"  # the smarthost was unreachable (or refused for now) until the expiry
    REFUSED = "refused"  # the smarthost refused the recipient or the message for good (5xx)


@dataclass(frozen=True, slots=True)
class PatientNotice:
    """A claimed row of ``ntf_notifications``: what the e-mail is built from."""

    id: int
    ins: str
    address: str
    names: tuple[str, ...]
    messages: int
    due_at: datetime
    attempts: int


class PatientOutbox:
    """``ntf_notifications``: written after delivery, read by the sending job."""

    def __init__(self, engine: AsyncEngine, *, window: timedelta) -> None:
        self._engine = engine
        self._window = window

    async def add(self, ins: str, address: str, name: str, now: datetime) -> None:
        """MSS-PAT-7: one more message for the patient ``ins`` (coalesced, see the module)."""
        async with begin_write(self._engine) as conn:
            latest = await self._latest(conn, ins)
            if latest is not None and latest.pending_key is not None:
                await self._join(conn, latest, name)
                return
            due = now if latest is None else max(now, _aware(latest.due_at) + self._window)
            row = _new_row(ins, address, name, now, due)
            added = await conn.execute(insert_ignore(conn, patient_notifications).values(**row))
            if added.rowcount != 1:  # another node opened the gathering row meanwhile
                latest = await self._latest(conn, ins)
                if latest is not None:
                    await self._join(conn, latest, name)

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int = 50
    ) -> list[PatientNotice]:
        """Due rows, each now held by this caller for ``lease``; they stop gathering."""
        table = patient_notifications
        query = (
            select(table.c.id)
            .where(table.c.state == State.PENDING, table.c.next_attempt_at <= now)
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            ids = [int(row.id) for row in (await conn.execute(query)).all()]
        claimed = []
        for row_id in ids:
            notice = await self._claim(row_id, now, lease)
            if notice is not None:
                claimed.append(notice)
        return claimed

    async def finish(self, row_id: int, state: State, now: datetime, error: str = "") -> None:
        await _set(
            self._engine,
            patient_notifications,
            patient_notifications.c.id,
            row_id,
            state=state,
            finished_at=now,
            error=error[:MAX_ERROR] or None,
        )

    async def retry(self, row_id: int, at: datetime, error: str) -> None:
        await _set(
            self._engine,
            patient_notifications,
            patient_notifications.c.id,
            row_id,
            next_attempt_at=at,
            error=error[:MAX_ERROR],
        )

    async def rows(self, ins: str) -> list[dict[str, Any]]:
        """Every row about ``ins``, oldest first (tests and support)."""
        table = patient_notifications
        query = select(table).where(table.c.ins == ins).order_by(table.c.id)
        async with self._engine.connect() as conn:
            return [dict(row._mapping) for row in (await conn.execute(query)).all()]

    async def _latest(self, conn: AsyncConnection, ins: str) -> Row[Any] | None:
        """The patient's newest row: the gathering one if any (rows are made one after the
        other), and the latest due time (each row is due no earlier than the one before)."""
        table = patient_notifications
        query = select(table).where(table.c.ins == ins).order_by(table.c.id.desc()).limit(1)
        if not is_sqlite(conn):
            query = query.with_for_update()
        return (await conn.execute(query)).one_or_none()

    async def _join(self, conn: AsyncConnection, row: Row[Any], name: str) -> None:
        table = patient_notifications
        await conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(messages=table.c.messages + 1, names=_add_name(str(row.names), name))
        )

    async def _claim(self, row_id: int, now: datetime, lease: timedelta) -> PatientNotice | None:
        table = patient_notifications
        async with begin_write(self._engine) as conn:
            taken = await conn.execute(
                update(table)
                .where(
                    table.c.id == row_id,
                    table.c.state == State.PENDING,
                    table.c.next_attempt_at <= now,
                )
                .values(
                    pending_key=None, next_attempt_at=now + lease, attempts=table.c.attempts + 1
                )
            )
            if taken.rowcount != 1:
                return None
            row = (await conn.execute(select(table).where(table.c.id == row_id))).one()
        return _notice(row)


@dataclass(frozen=True, slots=True)
class DmpAttempt:
    notification_id: int
    attempts: int


class DmpAttempts:
    """``ntf_dmp_attempts``: retries and final state of the DMP outbox's rows, which only know
    "sent or not" (``dmp_bridge`` owns them)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, notification_id: int, due_at: datetime, now: datetime, lease: timedelta
    ) -> DmpAttempt | None:
        """Hold row ``notification_id`` for ``lease`` when it is due and not finished."""
        table = dmp_attempts
        async with begin_write(self._engine) as conn:
            await conn.execute(
                insert_ignore(conn, table).values(
                    notification_id=notification_id,
                    state=State.PENDING,
                    attempts=0,
                    next_attempt_at=due_at,
                )
            )
            taken = await conn.execute(
                update(table)
                .where(
                    table.c.notification_id == notification_id,
                    table.c.state == State.PENDING,
                    table.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + lease, attempts=table.c.attempts + 1)
            )
            if taken.rowcount != 1:
                return None
            query = select(table.c.attempts).where(table.c.notification_id == notification_id)
            attempts = int((await conn.execute(query)).scalar_one())
        return DmpAttempt(notification_id, attempts)

    async def waiting(self, notification_ids: list[int], now: datetime) -> set[int]:
        """Those of ``notification_ids`` not to try now (finished, held, or waiting to retry):
        one read per scan instead of one claim per row."""
        table = dmp_attempts
        query = select(table.c.notification_id).where(
            table.c.notification_id.in_(notification_ids),
            or_(table.c.state != State.PENDING, table.c.next_attempt_at > now),
        )
        async with self._engine.connect() as conn:
            return {int(value) for value in (await conn.execute(query)).scalars()}

    async def finish(
        self, notification_id: int, state: State, now: datetime, error: str = ""
    ) -> None:
        await _set(
            self._engine,
            dmp_attempts,
            dmp_attempts.c.notification_id,
            notification_id,
            state=state,
            finished_at=now,
            error=error[:MAX_ERROR] or None,
        )

    async def retry(self, notification_id: int, at: datetime, error: str) -> None:
        await _set(
            self._engine,
            dmp_attempts,
            dmp_attempts.c.notification_id,
            notification_id,
            next_attempt_at=at,
            error=error[:MAX_ERROR],
        )

    async def state(self, notification_id: int) -> State | None:
        query = select(dmp_attempts.c.state).where(
            dmp_attempts.c.notification_id == notification_id
        )
        async with self._engine.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return None if value is None else State(value)


async def _set(engine: AsyncEngine, table: Any, key: Any, value: int, **values: Any) -> None:
    async with begin_write(engine) as conn:
        await conn.execute(update(table).where(key == value).values(**values))


def _new_row(ins: str, address: str, name: str, now: datetime, due: datetime) -> dict[str, Any]:
    return {
        "ins": ins,
        "address": address,
        "pending_key": ins,
        "names": name,
        "messages": 1,
        "created_at": now,
        "due_at": due,
        "state": State.PENDING,
        "attempts": 0,
        "next_attempt_at": due,
    }


def _add_name(names: str, name: str) -> str:
    known = names.split("\n")
    if name in known or len(known) >= MAX_NAMES:
        return names
    return "\n".join([*known, name])


def _notice(row: Row[Any]) -> PatientNotice:
    return PatientNotice(
        id=int(row.id),
        ins=str(row.ins),
        address=str(row.address),
        names=tuple(str(row.names).split("\n")),
        messages=int(row.messages),
        due_at=_aware(row.due_at),
        attempts=int(row.attempts),
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
