"""The Alembic history builds the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.schema import METADATA, upgrade


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for metadata in METADATA:
            await conn.run_sync(metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    combined = MetaData()
    for metadata in METADATA:
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return list(compare_metadata(context, combined))


@pytest.fixture
async def engine(sql_engine: AsyncEngine) -> AsyncEngine:
    await _reset(sql_engine)
    return sql_engine


async def test_upgrade_matches_the_models_and_is_idempotent(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await upgrade(engine)  # every start runs it
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    await _reset(engine)


async def test_audit_trail_is_append_only_after_migration(engine: AsyncEngine) -> None:
    """SEC-IN-4."""
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (at, event, details) "
                "VALUES (CURRENT_TIMESTAMP, 'admin_action', '{}')"
            )
        )
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_events"))
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE audit_events"))
    await _reset(engine)
