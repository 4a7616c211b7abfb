"""One audit suite for every backend: memory, SQLite and PostgreSQL (SEC-IN-3, SEC-IN-4).

The last section tests what only the SQL log has: the append-only table and the batch writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.audit import (
    AuditEvent,
    AuditLog,
    AuditLogClosedError,
    MemoryAuditLog,
    SqlAuditLog,
    append_only_ddl,
    audit_events,
    metadata,
)

PEER = "192.0.2.10:40123"
DN = "CN=mx.peer.test,OU=341518515600056,O=PEER OPERATOR,C=FR"
ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"


async def reset_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
        for ddl in append_only_ddl(engine.dialect.name):
            await conn.exec_driver_sql(ddl)


async def drop_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    """The engine of the SQL backends (None for memory), resolved only when needed."""
    if backend == "memory":
        return None
    fixture = "sqlite_engine" if backend == "sqlite" else "pg_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def audit(engine: AsyncEngine | None) -> AsyncIterator[AuditLog]:
    if engine is None:
        yield MemoryAuditLog()
        return
    await reset_schema(engine)
    log = SqlAuditLog(engine, flush_interval=0.01)
    yield log
    await log.close()
    await drop_schema(engine)


@pytest.fixture
def sql_engine(engine: AsyncEngine | None) -> AsyncEngine:
    if engine is None:
        pytest.skip("the memory log has no table")
    return engine


def smtp_session(audit: AuditLog) -> None:
    """What an inbound MX session records, in order."""
    audit.record(AuditEvent.CONNECTION_OPENED, session_id="s1", peer=PEER, listener="mx")
    audit.record(
        AuditEvent.TLS_ESTABLISHED,
        session_id="s1",
        peer=PEER,
        actor=DN,
        protocol="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        peer_dn=DN,
    )
    audit.record(
        AuditEvent.POLICY_DECISION,
        session_id="s1",
        peer=PEER,
        actor=DN,
        mailbox=BOB,
        stage="rcpt",
        decision="reject",
        reason="no_reply_mailbox",
        status="5.7.1",
    )
    audit.record(
        AuditEvent.MESSAGE_DELIVERED, session_id="s1", mailbox=ALICE, folder="INBOX", uid=42
    )
    audit.record(AuditEvent.CONNECTION_CLOSED, session_id="s1", peer=PEER, duration_ms=1234)


# --- every backend -----------------------------------------------------------------------------


async def test_records_come_back_in_order_with_their_details(audit: AuditLog) -> None:
    before = datetime.now(UTC)
    smtp_session(audit)
    await audit.flush()
    found = await audit.query()
    assert [r.event for r in found] == [
        AuditEvent.CONNECTION_OPENED,
        AuditEvent.TLS_ESTABLISHED,
        AuditEvent.POLICY_DECISION,
        AuditEvent.MESSAGE_DELIVERED,
        AuditEvent.CONNECTION_CLOSED,
    ]
    decision = found[2]
    assert (decision.session_id, decision.peer, decision.actor, decision.mailbox) == (
        "s1",
        PEER,
        DN,
        BOB,
    )
    assert dict(decision.details) == {
        "stage": "rcpt",
        "decision": "reject",
        "reason": "no_reply_mailbox",
        "status": "5.7.1",
    }
    assert dict(found[3].details) == {"folder": "INBOX", "uid": 42}
    assert dict(found[4].details) == {"duration_ms": 1234}
    assert all(before <= r.at <= datetime.now(UTC) and r.at.tzinfo is not None for r in found)


async def test_trace_of_one_mailbox(audit: AuditLog) -> None:
    """SEC-IN-4: who, when, action and result for one mailbox."""
    smtp_session(audit)
    audit.record(
        AuditEvent.MAILBOX_ACCESSED,
        actor=ALICE,
        mailbox=ALICE,
        action="select",
        folder="INBOX",
        result="ok",
    )
    trace = await audit.query(mailbox=ALICE)
    assert [(r.event, r.actor) for r in trace] == [
        (AuditEvent.MESSAGE_DELIVERED, None),
        (AuditEvent.MAILBOX_ACCESSED, ALICE),
    ]
    assert trace[1].details["result"] == "ok"


async def test_query_by_event_limit_and_since(audit: AuditLog) -> None:
    for number in range(5):
        audit.record(AuditEvent.ADMIN_ACTION, actor="admin", action="suspend", target=f"m{number}")
    audit.record(AuditEvent.CONNECTION_OPENED, listener="mx")
    admin = await audit.query(event=AuditEvent.ADMIN_ACTION)
    assert [r.details["target"] for r in admin] == ["m0", "m1", "m2", "m3", "m4"]
    latest = await audit.query(event=AuditEvent.ADMIN_ACTION, limit=2)
    assert [r.details["target"] for r in latest] == ["m3", "m4"]
    assert await audit.query(since=datetime.now(UTC) + timedelta(seconds=5)) == []
    assert len(await audit.query(since=admin[0].at)) == 6


async def test_unknown_key_is_refused_and_nothing_stored(audit: AuditLog) -> None:
    """SEC-IN-3: a body cannot reach the audit store."""
    with pytest.raises(ValueError, match="body"):
        audit.record(AuditEvent.MESSAGE_ACCEPTED, body="Bonjour docteur")
    assert await audit.query() == []


async def test_recording_after_close_is_refused(audit: AuditLog) -> None:
    audit.record(AuditEvent.CONNECTION_OPENED, listener="mx")
    await audit.close()
    with pytest.raises(AuditLogClosedError):
        audit.record(AuditEvent.CONNECTION_CLOSED, listener="mx")
    assert [r.event for r in await audit.query()] == [AuditEvent.CONNECTION_OPENED]


# --- SQL only: append-only table and the batch writer ------------------------------------------


async def test_audit_table_refuses_update_and_delete(
    audit: AuditLog, sql_engine: AsyncEngine
) -> None:
    """SEC-IN-4: a stored trace cannot be rewritten or erased."""
    smtp_session(audit)
    await audit.flush()
    for statement in (
        update(audit_events).values(actor="someone else"),
        delete(audit_events),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sql_engine.begin() as conn:
                await conn.execute(statement)
    assert len(await audit.query()) == 5


async def test_audit_table_refuses_truncate_and_empty_deletes_on_postgresql(
    audit: AuditLog, sql_engine: AsyncEngine
) -> None:
    """SEC-IN-4: PostgreSQL's statement-level trigger also stops TRUNCATE."""
    if sql_engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE and statement-level triggers are PostgreSQL's")
    smtp_session(audit)
    await audit.flush()
    for statement in (text("TRUNCATE audit_events"), delete(audit_events).where(text("id < 0"))):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sql_engine.begin() as conn:
                await conn.execute(statement)
    assert len(await audit.query()) == 5


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(audit_events))).scalar_one()
        )


async def eventually(probe: Callable[[], Awaitable[int]], wanted: int) -> bool:
    """Poll ``probe`` for up to 5 s until it reaches ``wanted``."""
    for _ in range(500):
        if await probe() >= wanted:
            return True
        await asyncio.sleep(0.01)
    return False


async def error_count(caplog: pytest.LogCaptureFixture) -> int:
    return len(caplog.records)


async def test_writer_stores_records_without_being_asked(
    audit: AuditLog, sql_engine: AsyncEngine
) -> None:
    """``record`` only buffers; the background writer stores the batch soon after."""
    smtp_session(audit)
    assert await eventually(lambda: stored_count(sql_engine), 5)


async def test_many_records_are_written_in_few_statements(
    audit: AuditLog, sql_engine: AsyncEngine
) -> None:
    """No database round trip per record: 1,200 records take a handful of INSERTs."""
    inserts: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            inserts.append(1)

    event.listen(sql_engine.sync_engine, "before_cursor_execute", count)
    try:
        for number in range(1200):
            audit.record(AuditEvent.MESSAGE_DELIVERED, mailbox=ALICE, folder="INBOX", uid=number)
        await audit.flush()
    finally:
        event.remove(sql_engine.sync_engine, "before_cursor_execute", count)
    assert await stored_count(sql_engine) == 1200
    assert 1 <= len(inserts) <= 6
    uids = [r.details["uid"] for r in await audit.query(mailbox=ALICE, limit=2000)]
    assert uids == list(range(1200))


async def test_close_writes_what_was_recorded(sql_engine: AsyncEngine) -> None:
    await reset_schema(sql_engine)
    log = SqlAuditLog(sql_engine, flush_interval=60)
    smtp_session(log)
    await log.close()
    assert await stored_count(sql_engine) == 5
    await drop_schema(sql_engine)


async def test_failed_write_is_retried_not_lost(
    sql_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """SEC-IN-4: a database outage delays the trace but does not drop it; SEC-IN-3 in the log."""
    await drop_schema(sql_engine)  # no table yet: the first writes fail
    log = SqlAuditLog(sql_engine, flush_interval=0.01, retry_delay=0.05)
    log.record(AuditEvent.AUTH_FAILED, actor="mallory", mechanism="PLAIN", reason="bad_password")
    with caplog.at_level(logging.ERROR, logger="mss.audit.sql"):
        assert await eventually(lambda: error_count(caplog), 1)
        await reset_schema(sql_engine)
        async with asyncio.timeout(5):
            await log.flush()
    await log.close()
    assert await stored_count(sql_engine) == 1
    assert "mallory" not in caplog.text
    await drop_schema(sql_engine)
