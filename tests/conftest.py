"""Shared fixtures: database engines for every backend the contract suites run on."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.inline import InlineBlobs
from mailbox_store.interfaces import MailboxStore
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import metadata as mailbox_metadata
from mss.db import make_engine

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = Path(__file__).resolve().parent / "data"

# CI runs are reproducible: the same examples every time (locally, new ones each run).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pg_url() -> str | None:
    """PostgreSQL URL for the contract suites. CI must have one: there the suite fails without."""
    url = os.environ.get("MSS_TEST_PG_URL")
    if not url and os.environ.get("CI"):
        pytest.fail("CI run without MSS_TEST_PG_URL: PostgreSQL contract tests cannot be skipped")
    return url


async def empty_database(url: str) -> None:
    """Empty the PostgreSQL test database for a test that runs whole operators on it: their
    start-up migrates it. Dropping the schema also drops the append-only triggers' functions."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres" and not pg_url():
        pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
    return name


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", fsync=False)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pg_engine() -> AsyncIterator[AsyncEngine]:
    url = pg_url()
    if not url:
        pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
    engine = make_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh engine on each SQL backend (the schema is the test's business)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'sql.db'}"
    if request.param == "postgres":
        url = pg_url() or ""
        if not url:
            pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
    engine = make_engine(url, fsync=False)
    yield engine
    await engine.dispose()


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    """The engine of ``backend`` (None for memory), resolved only for the SQL backends."""
    if backend == "memory":
        return None
    found: AsyncEngine = request.getfixturevalue(
        "sqlite_engine" if backend == "sqlite" else "pg_engine"
    )
    return found


async def fresh_mailbox_store(engine: AsyncEngine | None, blob_dir: Path) -> MailboxStore:
    """A mailbox store on an empty schema: memory, or SQL with a key ring and inline bodies."""
    if engine is None:
        return MemoryMailboxStore(ChangeHub())
    async with engine.begin() as conn:
        await conn.run_sync(mailbox_metadata.drop_all)
        await conn.run_sync(mailbox_metadata.create_all)
    ring = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")
    blobs = FileBlobStore(blob_dir, ring, fsync=False)
    inline = InlineBlobs(ring, 4096)
    return SqlMailboxStore(engine, blobs, ChangeHub(), keyring=ring, inline=inline)


def spy_header_reads(store: MailboxStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """UIDs of the header sections ``store`` reads from now on (the search index's cost)."""
    read: list[int] = []
    original = store.iter_headers

    async def spying(
        folder_id: int, uids: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        async for part in original(folder_id, uids, batch):
            read.extend(uid for uid, _ in part)
            yield part

    monkeypatch.setattr(store, "iter_headers", spying)
    return read
