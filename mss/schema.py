"""Schema migrations with Alembic: one history for SQLite and PostgreSQL, run at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from directory.tables import metadata as directory_metadata
from dmp_bridge.store.tables import metadata as dmp_metadata
from mailbox_store.tables import metadata as store_metadata
from mss.audit.tables import metadata as audit_metadata
from mss.dmp.tables import metadata as dmp_filing_metadata
from mss.notify.tables import metadata as notify_metadata
from mss.outbound.tables import metadata as outbound_metadata

if TYPE_CHECKING:
    from alembic.config import Config

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


_REVISION = re.compile(r"""^(down_)?revision\s*(?::[^=]*)?=\s*['"]?(\w+)""", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # only when migrating: alembic + mako cost ~11 MB

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision``; idempotent, safe to run on every start."""
    async with engine.begin() as connection:
        if revision == "head" and await connection.run_sync(_at_head):
            return  # the usual start: Alembic is not even imported (issue 3, memory)
        await connection.run_sync(_upgrade, revision)


def head_revision() -> str | None:
    """The newest revision of the history, read from the migration files (None if several)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, name in _REVISION.findall(path.read_text(encoding="utf-8")):
            (parents if down else revisions).add(name)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(connection: Connection) -> bool:
    if not inspect(connection).has_table("alembic_version"):
        return False
    current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    head = head_revision()
    return head is not None and current == {head}


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command  # see alembic_config

    command.upgrade(alembic_config(connection), revision)
