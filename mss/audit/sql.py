"""``SqlAuditLog``: audit records buffered in memory and written in batches by a background task.

Auditing must never add a database round trip per SMTP command: ``record`` only appends to a
buffer; the writer inserts what has gathered every ``flush_interval`` seconds, or at once when
``batch_size`` records wait or someone calls ``flush``. A failed write is logged (without the
values) and retried, so a short database outage loses no trace (SEC-IN-4).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.audit.events import AuditEvent, AuditRecord, DetailValue, make_record
from mss.audit.log import AuditLogClosedError
from mss.audit.tables import audit_events

logger = logging.getLogger(__name__)


class SqlAuditLog:
    """The audit log in the ``audit_events`` table (created by the migrations)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        flush_interval: float = 0.05,
        batch_size: int = 500,
        retry_delay: float = 1.0,
    ) -> None:
        self._engine = engine
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._retry_delay = retry_delay
        self._pending: list[AuditRecord] = []
        self._recorded = 0
        self._written = 0
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._progress = asyncio.Condition()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        event: AuditEvent,
        *,
        session_id: str | None = None,
        peer: str | None = None,
        actor: str | None = None,
        mailbox: str | None = None,
        **details: DetailValue | None,
    ) -> None:
        if self._closing:
            raise AuditLogClosedError("audit log is closed")
        item = make_record(
            event, session_id=session_id, peer=peer, actor=actor, mailbox=mailbox, details=details
        )
        self._pending.append(item)
        self._recorded += 1
        self._start()
        self._wake.set()
        if len(self._pending) >= self._batch_size:
            self._hurry.set()

    async def flush(self) -> None:
        target = self._recorded
        if self._written >= target:
            return
        self._hurry.set()
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def close(self) -> None:
        self._closing = True
        if self._task is None:
            return
        self._hurry.set()
        self._wake.set()
        await self._task

    async def query(
        self,
        mailbox: str | None = None,
        event: AuditEvent | None = None,
        limit: int = 100,
        *,
        since: datetime | None = None,
    ) -> list[AuditRecord]:
        await self.flush()
        statement = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if mailbox is not None:
            statement = statement.where(audit_events.c.mailbox == mailbox)
        if event is not None:
            statement = statement.where(audit_events.c.event == str(event))
        if since is not None:
            statement = statement.where(audit_events.c.at >= since)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [_from_row(row) for row in reversed(rows)]

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._flush_interval)
            self._wake.clear()
            self._hurry.clear()
            await self._drain()
            if self._closing:
                return

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._batch_size]
            del self._pending[: len(batch)]
            await self._write(batch)
            async with self._progress:
                self._written += len(batch)
                self._progress.notify_all()

    async def _write(self, batch: list[AuditRecord]) -> None:
        rows = [_to_row(item) for item in batch]
        while True:
            try:
                async with self._engine.begin() as connection:
                    await connection.execute(audit_events.insert(), rows)
                return
            except Exception as error:  # any failure: keep the batch, never drop a trace
                # SEC-IN-3: the type only; driver messages may quote the values.
                logger.error(
                    "audit write of %d records failed (%s); retrying in %.1f s",
                    len(batch),
                    type(error).__name__,
                    self._retry_delay,
                )
                await asyncio.sleep(self._retry_delay)


def _to_row(item: AuditRecord) -> dict[str, Any]:
    return {
        "at": item.at,
        "event": str(item.event),
        "session_id": item.session_id,
        "peer": item.peer,
        "actor": item.actor,
        "mailbox": item.mailbox,
        "details": json.dumps(dict(item.details), ensure_ascii=False, separators=(",", ":")),
    }


def _from_row(row: Row[Any]) -> AuditRecord:
    details: dict[str, DetailValue] = json.loads(row.details)
    return AuditRecord(
        at=row.at,
        event=AuditEvent(row.event),
        session_id=row.session_id,
        peer=row.peer,
        actor=row.actor,
        mailbox=row.mailbox,
        details=MappingProxyType(details),
    )
