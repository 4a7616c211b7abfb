"""Small bodies kept sealed in the database, in the delivery's transaction (SQLite, PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.errors import BlobError
from mailbox_store.inline import InlineBlobs
from mailbox_store.models import Delivered, Delivery
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import inline_blobs, metadata

ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"
LIMIT = 4096


@pytest.fixture
async def engine(sql_engine: AsyncEngine) -> AsyncEngine:
    async with sql_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    return sql_engine


@pytest.fixture
async def store(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[SqlMailboxStore]:
    keyring = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")
    built = SqlMailboxStore(
        engine,
        FileBlobStore(tmp_path / "blobs", keyring, fsync=False),
        ChangeHub(),
        inline=InlineBlobs(keyring, LIMIT),
    )
    await built.create_account(ALICE)
    await built.create_account(BOB)
    yield built
    await built.close()


def blob_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


async def test_small_body_is_sealed_in_the_database_once(
    store: SqlMailboxStore, engine: AsyncEngine, tmp_path: Path
) -> None:
    body = b"Subject: petit\r\n\r\nsecret medical\r\n"
    results = await store.deliver(body, [Delivery(ALICE), Delivery(BOB)])
    assert all(isinstance(r, Delivered) for r in results)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(inline_blobs.c.content))).all()
    assert len(rows) == 1
    assert b"secret medical" not in rows[0].content  # encrypted at rest
    assert blob_files(tmp_path) == []
    for result in results:
        assert isinstance(result, Delivered)
        assert await store.get_body(result.folder_id, result.uid) == body


async def test_large_body_goes_to_a_file(store: SqlMailboxStore, tmp_path: Path) -> None:
    body = b"Subject: gros\r\n\r\n" + b"x" * (LIMIT + 1)
    [result] = await store.deliver(body, [Delivery(ALICE)])
    assert isinstance(result, Delivered)
    assert len(blob_files(tmp_path)) == 1
    assert await store.get_body(result.folder_id, result.uid) == body


async def test_tampered_inline_body_is_detected(
    store: SqlMailboxStore, engine: AsyncEngine
) -> None:
    [result] = await store.deliver(b"Subject: x\r\n\r\nbody\r\n", [Delivery(ALICE)])
    assert isinstance(result, Delivered)
    async with engine.begin() as conn:
        content = (await conn.execute(select(inline_blobs.c.content))).scalar_one()
        tampered = content[:-1] + bytes([content[-1] ^ 1])
        await conn.execute(update(inline_blobs).values(content=tampered))
    with pytest.raises(BlobError):
        await store.get_body(result.folder_id, result.uid)
