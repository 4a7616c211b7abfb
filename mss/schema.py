"""Schema migrations with Alembic: one history for SQLite and PostgreSQL, run at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from directory.tables import metadata as directory_metadata
from dmp_bridge.store.tables import metadata as dmp_metadata
from mailbox_store.tables import metadata as store_metadata
from mss.audit.tables import metadata as audit_metadata
from mss.dmp.tables import metadata as dmp_filing_metadata
from mss.notify.tables import metadata as notify_metadata
from mss.outbound.tables import metadata as outbound_metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
METADATA: tuple[MetaData, ...] = (
    directory_metadata,
    store_metadata,
    audit_metadata,
    dmp_metadata,
    outbound_metadata,
    dmp_filing_metadata,
    notify_metadata,
)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision``; idempotent, safe to run on every start."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
