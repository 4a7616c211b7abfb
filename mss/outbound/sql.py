"""The outbound queue in SQL (SQLite embedded default, PostgreSQL for several nodes).

Claims are exclusive: on PostgreSQL the due rows are selected ``FOR UPDATE SKIP LOCKED`` (two
nodes never wait on nor take each other's rows); on SQLite the claim runs under the database
write lock (``BEGIN IMMEDIATE``). A claim stamps the rows with a lease and moves their
``next_attempt`` to the lease's end, so a worker that dies leaves them due again then.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, Select, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store.blobs import KeyRing, seal, unseal
from mailbox_store.dialect import is_sqlite
from mss.outbound.codec import body_aad, message_of, message_row, recipient_of, recipient_row
from mss.outbound.combine import WriteCombiner
from mss.outbound.models import (
    Batch,
    Done,
    NewMessage,
    QueuedMessage,
    QueuedRecipient,
    Retry,
    Settlement,
)
from mss.outbound.tables import messages, recipients


class SqlOutboundQueue:
    def __init__(self, engine: AsyncEngine, keyring: KeyRing) -> None:
        self._engine = engine
        self._keyring = keyring
        self._enqueued = asyncio.Event()
        self._writes = WriteCombiner(engine, writers=1 if is_sqlite(engine) else 4)
        # tells the other nodes' workers (PostgreSQL NOTIFY, mss.cluster); None: this node only
        self.announce: Callable[[], None] | None = None

    async def enqueue(self, message: NewMessage) -> tuple[QueuedRecipient, ...]:
        if not message.recipients:
            raise ValueError("an outbound message needs at least one recipient")
        sealed = seal(self._keyring, body_aad(message.queue_id), message.body)

        async def insert(conn: AsyncConnection) -> list[RowMapping]:
            await conn.execute(messages.insert(), [message_row(message, sealed)])
            rows = [recipient_row(message, r) for r in message.recipients]
            if len(rows) == 1:  # the common case, one statement with RETURNING
                stored = await conn.execute(recipients.insert().returning(*recipients.c), rows[0])
                return list(stored.mappings().all())
            stored = await conn.execute(
                recipients.insert().returning(*recipients.c, sort_by_parameter_order=True), rows
            )
            return list(stored.mappings().all())

        stored = await self._writes.run(insert)
        if message.lease is None:  # no worker here took it: any node's worker may
            self._work_added()
        return tuple(recipient_of(row) for row in stored)

    @property
    def enqueued(self) -> asyncio.Event:
        return self._enqueued

    def _work_added(self) -> None:
        self._enqueued.set()
        if self.announce is not None:
            self.announce()

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[Batch]:
        token = secrets.token_hex(16)
        until = now + lease

        async def take(conn: AsyncConnection) -> tuple[list[RowMapping], list[RowMapping]]:
            claimed = await conn.execute(
                update(recipients)
                .where(recipients.c.id.in_(self._due(conn, now, limit)))
                .values(lease=token, next_attempt=until)
                .returning(*recipients.c)
            )
            rows = list(claimed.mappings().all())
            if not rows:
                return [], []
            queue_ids = sorted({row["queue_id"] for row in rows})
            found = await conn.execute(select(messages).where(messages.c.queue_id.in_(queue_ids)))
            return rows, list(found.mappings().all())

        rows, found = await self._writes.run(take)
        return self._batches([recipient_of(r) for r in rows], found, token, until)

    def _due(self, conn: AsyncConnection, now: datetime, limit: int) -> Select[tuple[int]]:
        """Due recipients, oldest first; on PostgreSQL rows locked by another claim are skipped."""
        query = (
            select(recipients.c.id)
            .where(recipients.c.next_attempt <= now)
            .order_by(recipients.c.next_attempt, recipients.c.id)
            .limit(limit)
        )
        if not is_sqlite(conn):
            query = query.with_for_update(skip_locked=True)
        return query

    def _batches(
        self,
        claimed: list[QueuedRecipient],
        message_rows: Sequence[RowMapping],
        token: str,
        until: datetime,
    ) -> list[Batch]:
        groups: dict[tuple[str, str], list[QueuedRecipient]] = defaultdict(list)
        for rcpt in claimed:
            groups[(rcpt.queue_id, rcpt.domain)].append(rcpt)
        by_id = {row["queue_id"]: row for row in message_rows}
        batches = []
        for (queue_id, domain), group in groups.items():
            row = by_id[queue_id]
            body = unseal(self._keyring, body_aad(queue_id), row["body"])
            message = message_of(row, tuple(group))
            batches.append(Batch(message, domain, tuple(group), body, token, until))
        return batches

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        if not settlements:
            return 0

        async def apply(conn: AsyncConnection) -> int:
            if not is_sqlite(conn):
                await self._lock_messages(conn, [s.recipient_id for s in settlements])
            done: dict[str, list[int]] = defaultdict(list)
            for item in settlements:
                if isinstance(item, Done):
                    done[item.lease].append(item.recipient_id)
            touched: set[str] = set()
            applied = 0
            for lease, ids in done.items():
                held = and_(recipients.c.lease == lease, recipients.c.id.in_(ids))
                gone = await conn.execute(
                    delete(recipients).where(held).returning(recipients.c.queue_id)
                )
                queue_ids = list(gone.scalars())
                touched.update(queue_ids)
                applied += len(queue_ids)
            for item in settlements:
                if isinstance(item, Retry):
                    applied += await self._retry(conn, item)
            await self._drop_finished(conn, sorted(touched))
            return applied

        return await self._writes.run(apply)

    async def _lock_messages(self, conn: AsyncConnection, recipient_ids: list[int]) -> None:
        """PostgreSQL, concurrent writers: two settlements of one message (two domains) take
        turns, so the later one sees the other's deletions and drops the finished message."""
        of = select(recipients.c.queue_id).where(recipients.c.id.in_(recipient_ids))
        await conn.execute(
            select(messages.c.queue_id)
            .where(messages.c.queue_id.in_(of.scalar_subquery()))
            .order_by(messages.c.queue_id)
            .with_for_update()
        )

    async def _retry(self, conn: AsyncConnection, item: Retry) -> int:
        held = and_(recipients.c.id == item.recipient_id, recipients.c.lease == item.lease)
        result = await conn.execute(update(recipients).where(held).values(_retry_values(item)))
        return int(result.rowcount or 0)

    async def _drop_finished(self, conn: AsyncConnection, queue_ids: list[str]) -> None:
        if not queue_ids:
            return
        pending = exists().where(recipients.c.queue_id == messages.c.queue_id)
        await conn.execute(delete(messages).where(messages.c.queue_id.in_(queue_ids), ~pending))

    async def next_due(self) -> datetime | None:
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(func.min(recipients.c.next_attempt)))).scalar()
        return value  # type: ignore[no-any-return]  # min() keeps the column's UTC type

    async def list_messages(self) -> list[QueuedMessage]:
        return await self._load(None)

    async def get(self, queue_id: str) -> QueuedMessage | None:
        found = await self._load(queue_id)
        return found[0] if found else None

    async def _load(self, queue_id: str | None) -> list[QueuedMessage]:
        columns = [c for c in messages.c if c.name != "body"]
        message_query = select(*columns).order_by(messages.c.created_at, messages.c.queue_id)
        rcpt_query = select(recipients).order_by(recipients.c.id)
        if queue_id is not None:
            message_query = message_query.where(messages.c.queue_id == queue_id)
            rcpt_query = rcpt_query.where(recipients.c.queue_id == queue_id)
        async with self._engine.connect() as conn:
            message_rows = (await conn.execute(message_query)).mappings().all()
            rcpt_rows = (await conn.execute(rcpt_query)).mappings().all()
        by_message: dict[str, list[QueuedRecipient]] = defaultdict(list)
        for row in rcpt_rows:
            by_message[row["queue_id"]].append(recipient_of(row))
        return [message_of(row, tuple(by_message[row["queue_id"]])) for row in message_rows]

    async def body(self, queue_id: str) -> bytes | None:
        async with self._engine.connect() as conn:
            query = select(messages.c.body).where(messages.c.queue_id == queue_id)
            sealed = (await conn.execute(query)).scalar()
        return None if sealed is None else unseal(self._keyring, body_aad(queue_id), sealed)

    async def retry_now(self, queue_id: str, now: datetime) -> bool:
        async def due_now(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(recipients)
                .where(recipients.c.queue_id == queue_id)
                .values(next_attempt=now, lease=None)
            )
            return int(result.rowcount or 0)

        changed = await self._writes.run(due_now)
        self._work_added()
        return changed > 0

    async def delete(self, queue_id: str) -> bool:
        async def remove(conn: AsyncConnection) -> int:
            await conn.execute(delete(recipients).where(recipients.c.queue_id == queue_id))
            result = await conn.execute(delete(messages).where(messages.c.queue_id == queue_id))
            return int(result.rowcount or 0)

        return await self._writes.run(remove) > 0

    async def close(self) -> None:
        return None


def _retry_values(item: Retry) -> dict[str, Any]:
    values: dict[str, Any] = {
        "next_attempt": item.next_attempt,
        "attempts": recipients.c.attempts + 1,
        "last_code": item.code,
        "last_reply": item.reply,
        "lease": None,
    }
    if item.delay_notified:
        values["delay_notified"] = True
    return values
