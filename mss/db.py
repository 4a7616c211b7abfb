"""Database engines: SQLite (embedded default, WAL, foreign keys, busy timeout) or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(
    url: str, *, fsync: bool = True, busy_timeout_ms: int = 10_000, pool_size: int = 10
) -> AsyncEngine:
    """An engine for ``url`` with the pragmas durability needs on SQLite."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, fsync=fsync, busy_timeout_ms=busy_timeout_ms)
    return create_async_engine(url, pool_size=pool_size, pool_pre_ping=True)


def _sqlite_engine(url: str, *, fsync: bool, busy_timeout_ms: int) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})
    synchronous = "FULL" if fsync else "OFF"

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return engine


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
