"""Write transactions of the SQL DMP store, and the audit rows a write appends (DMP-AUD-1).

``WriteGate.begin`` opens a write transaction. On SQLite it is ``BEGIN IMMEDIATE`` (reads inside
are isolated, writers never fail on upgrade) and *(chosen)* the store's writers queue on an
``asyncio.Lock`` first: SQLite has one writer at a time anyway, and its busy handler waits by
sleeping (1, 2, 5 … 100 ms), so two filings of this process racing for the lock would lose
milliseconds each; queued here, the next one starts as soon as the last commits. Another
process (or another store on the same file) still meets the busy timeout. On PostgreSQL
transactions run side by side.

``append_audit`` writes a trace, its notifications and, for a professional's first granted
access, the ``dmp_first_accesses`` row whose primary key makes "first" true exactly once; it runs
inside the caller's transaction (``record_access``, ``file_all``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dmp_bridge.store.access_models import NewNotification, NewTrace
from dmp_bridge.store.tables import first_accesses, notifications, traces


class WriteGate:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @property
    def serial(self) -> bool:
        """Whether this store's writers take turns (SQLite)."""
        return self._lock is not None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction in its turn, committed when the block ends (rolled back on an
        error)."""
        async with self.turn(), self.transaction() as conn:
            yield conn

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """This store's turn to write (SQLite); at once on PostgreSQL."""
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (the caller has its turn)."""
        async with self._engine.begin() as conn:
            if self._lock is not None:
                raw = await conn.get_raw_connection()
                if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn


def insert_ignore(conn: AsyncConnection, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the connection's dialect."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


async def append_audit(
    conn: AsyncConnection,
    trace: NewTrace,
    queued: Sequence[NewNotification] = (),
    first_access: NewNotification | None = None,
) -> int:
    """DMP-AUD-1: append ``trace`` and queue its notifications in ``conn``'s transaction; the
    trace's id. ``first_access`` is queued only if ``trace`` is the actor's first granted one."""
    added = insert(traces).values(**trace_row(trace)).returning(traces.c.id)
    trace_id = int((await conn.execute(added)).scalar_one())
    rows = [notification_row(notification) for notification in queued]
    if trace.allowed and first_access is not None:
        first = insert_ignore(conn, first_accesses).values(
            ins=trace.ins, actor_id=trace.actor_id, trace_id=trace_id
        )
        if (await conn.execute(first)).rowcount == 1:
            rows.append(notification_row(first_access))
    if rows:
        await conn.execute(insert(notifications), rows)
    return trace_id


def trace_row(trace: NewTrace) -> dict[str, Any]:
    return {
        "ins": trace.ins,
        "at": trace.at,
        "actor_kind": trace.actor_kind.value,
        "actor_id": trace.actor_id,
        "profession": trace.profession,
        "action": trace.action.value,
        "mode": trace.mode.value,
        "entry_id": None if trace.entry_id is None else str(trace.entry_id),
        "allowed": trace.allowed,
        "reason": trace.reason.value,
        "justification": trace.justification,
    }


def notification_row(notification: NewNotification) -> dict[str, Any]:
    return {
        "ins": notification.ins,
        "kind": notification.kind.value,
        "recipient_kind": notification.recipient_kind.value,
        "recipient": notification.recipient,
        "created_at": notification.created_at,
        "due_at": notification.due_at,
        "actor_id": notification.actor_id,
        "entry_id": None if notification.entry_id is None else str(notification.entry_id),
    }
