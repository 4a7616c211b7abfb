"""The SQLite/PostgreSQL differences the SQL store cares about, in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from mailbox_store.write_lock import queued_writer


def is_sqlite(conn: AsyncConnection | AsyncEngine | Connection) -> bool:
    return conn.dialect.name == "sqlite"


@asynccontextmanager
async def begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-write transaction, committed on exit, rolled back on error.

    On SQLite it starts with ``BEGIN IMMEDIATE``: the stdlib driver otherwise sends ``BEGIN`` only
    before the first INSERT/UPDATE/DELETE, so reads ahead of it run outside the transaction and a
    leading ``SAVEPOINT`` opens a transaction of its own that its ``RELEASE`` commits (savepoints
    would not roll back). Taking the write lock up front also lets the busy timeout apply, instead
    of a ``SQLITE_BUSY`` when a reader upgrades to writer. If the engine already sends ``BEGIN``
    itself, nothing more is sent. On a SQLite file, the writers of this process take turns
    (``write_lock``) rather than napping in the busy handler.
    """
    async with queued_writer(engine), engine.begin() as conn:  # SQLite: in turn (write_lock)
        if is_sqlite(conn):
            raw = await conn.get_raw_connection()
            if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@asynccontextmanager
async def begin_read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction whose statements all see one snapshot of the database.

    PostgreSQL: ``REPEATABLE READ``. SQLite: an explicit deferred ``BEGIN`` (the stdlib driver
    sends none before a SELECT, so each statement would otherwise see its own snapshot).
    """
    async with engine.connect() as conn:
        if not is_sqlite(conn):
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            if is_sqlite(conn):
                raw = await conn.get_raw_connection()
                if not raw.driver_connection.in_transaction:  # type: ignore[union-attr]
                    await conn.exec_driver_sql("BEGIN")
            yield conn


def insert_ignore(conn: AsyncConnection | Connection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING``; with ``RETURNING``, an ignored row returns nothing."""
    if is_sqlite(conn):
        return sqlite.insert(table).on_conflict_do_nothing()
    return postgresql.insert(table).on_conflict_do_nothing()
