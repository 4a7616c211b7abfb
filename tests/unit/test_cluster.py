"""The composition root's choice of change hub: in-process on SQLite, LISTEN/NOTIFY on
PostgreSQL (on ``database.notify_url`` when set, e.g. past a transaction-pooling PgBouncer)."""

from __future__ import annotations

from pathlib import Path

from config import Settings
from config.settings import DatabaseSettings
from mailbox_store.notify import ChangeHub
from mailbox_store.notify_pg import PgChangeHub
from mss.cluster import change_hub

NOWHERE = "postgresql+asyncpg://mss:secret@127.0.0.1:1/mss"  # nothing listens on port 1


async def test_sqlite_keeps_the_in_process_hub(tmp_path: Path) -> None:
    async with change_hub(Settings(data_dir=tmp_path)) as hub:
        assert type(hub) is ChangeHub


async def test_postgresql_gets_the_listen_notify_hub_and_starts_without_the_database() -> None:
    """A node starts even while its LISTEN connection cannot be opened (it keeps trying)."""
    database = DatabaseSettings(url=NOWHERE, notify_channel="mss_site_a")
    async with change_hub(Settings(database=database)) as hub:
        assert isinstance(hub, PgChangeHub)
        assert hub.dsn == "postgresql://mss:secret@127.0.0.1:1/mss"
        assert not hub.connected.is_set()


async def test_the_listen_connection_may_use_its_own_url() -> None:
    database = DatabaseSettings(
        url="postgresql+asyncpg://mss:secret@pgbouncer:6432/mss",
        notify_url="postgresql+asyncpg://mss:secret@127.0.0.1:1/mss",
    )
    async with change_hub(Settings(database=database)) as hub:
        assert isinstance(hub, PgChangeHub)
        assert hub.dsn == "postgresql://mss:secret@127.0.0.1:1/mss"
