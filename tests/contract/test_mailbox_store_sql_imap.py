"""What only the SQL store has for IMAP (SQLite and PostgreSQL): header sections sealed at rest,
the SELECT summary cache kept right across nodes, quota under concurrency, migration 0004.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import FileBlobStore, KeyRing, MemoryBlobStore
from mailbox_store.errors import BlobError
from mailbox_store.inline import InlineBlobs
from mailbox_store.logic import summarize
from mailbox_store.models import Delivered, Delivery, FlagMode, Folder, FolderSummary
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import accounts, folders, headers, messages, metadata
from mss.schema import METADATA, upgrade

ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"
SECRET_SUBJECT = "Diagnostic-Confidentiel-7f3a9c"


def keyring() -> KeyRing:
    return KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")


@pytest.fixture
async def engine(sql_engine: AsyncEngine) -> AsyncEngine:
    async with sql_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    return sql_engine


@pytest.fixture
async def keys() -> KeyRing:
    return keyring()


@pytest.fixture
async def store(
    engine: AsyncEngine, keys: KeyRing, tmp_path: Path
) -> AsyncIterator[SqlMailboxStore]:
    built = SqlMailboxStore(
        engine,
        FileBlobStore(tmp_path / "blobs", keys, fsync=False),
        ChangeHub(),
        inline=InlineBlobs(keys, 64 * 1024),
        keyring=keys,
    )
    await built.create_account(ALICE)
    await built.create_account(BOB)
    yield built
    await built.close()


async def inbox_id(store: SqlMailboxStore, account: str = ALICE) -> int:
    folder = await store.get_folder(account, "INBOX")
    assert folder is not None
    return folder.id


def body(n: int, subject: str = "Compte rendu") -> bytes:
    return f"Subject: {subject} {n}\r\nFrom: <dr@chu.fr>\r\n\r\ntexte {n}\r\n".encode()


# --- header sections ------------------------------------------------------------------------


async def test_header_is_sealed_at_rest(
    store: SqlMailboxStore, engine: AsyncEngine, tmp_path: Path
) -> None:
    """Encryption at rest (MISSION.md, point 5): the subject is health data, never in clear."""
    message = body(1, SECRET_SUBJECT)
    [result] = await store.deliver(message, [Delivery(ALICE)])
    assert isinstance(result, Delivered)
    copy = await store.copy_messages(result.folder_id, [result.uid], result.folder_id)
    assert (
        await store.get_header(result.folder_id, copy.dest_uids[0])
        == message.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    )
    async with engine.connect() as conn:
        sealed = (await conn.execute(select(headers.c.content))).scalars().all()
    assert len(sealed) == 2
    assert all(SECRET_SUBJECT.encode() not in content for content in sealed)
    if engine.dialect.name == "sqlite":
        database = Path(str(engine.url.database))
        for path in (database, Path(f"{database}-wal")):
            if path.exists():
                assert SECRET_SUBJECT.encode() not in path.read_bytes()


async def test_tampered_header_is_detected(store: SqlMailboxStore, engine: AsyncEngine) -> None:
    [result] = await store.deliver(body(1), [Delivery(ALICE)])
    assert isinstance(result, Delivered)
    async with engine.begin() as conn:
        content = (await conn.execute(select(headers.c.content))).scalar_one()
        tampered = content[:-1] + bytes([content[-1] ^ 1])
        await conn.execute(update(headers).values(content=tampered))
    with pytest.raises(BlobError):
        await store.get_header(result.folder_id, result.uid)


async def test_without_key_ring_headers_come_from_the_body(engine: AsyncEngine) -> None:
    """A store built without a key ring keeps no header row; messages of before the header
    table (none either) are read the same way."""
    plain = SqlMailboxStore(engine, MemoryBlobStore(), ChangeHub())
    await plain.create_account(ALICE)
    [result] = await plain.deliver(body(1), [Delivery(ALICE)])
    assert isinstance(result, Delivered)
    async with engine.connect() as conn:
        assert (await conn.execute(select(headers))).all() == []
    expected = body(1).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert await plain.get_header(result.folder_id, result.uid) == expected
    batches = [b async for b in plain.iter_headers(result.folder_id)]
    assert batches == [[(result.uid, expected)]]
    await plain.close()


async def test_expunge_and_delete_remove_header_rows(
    store: SqlMailboxStore, engine: AsyncEngine
) -> None:
    folder = await store.create_folder(ALICE, "Old")
    for n in range(3):
        await store.deliver(body(n), [Delivery(ALICE), Delivery(ALICE, "Old")])
    fid = await inbox_id(store)
    await store.store_flags(fid, [1, 2], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(fid)
    await store.delete_folder(ALICE, "Old")
    async with engine.connect() as conn:
        left = (await conn.execute(select(headers.c.folder_id, headers.c.uid))).all()
    assert [tuple(row) for row in left] == [(fid, 3)]
    assert folder.id != fid


# --- the summary cache ----------------------------------------------------------------------


def fresh(summary: FolderSummary) -> tuple[list[int], int, int | None, frozenset[str]]:
    return (list(summary.uids), summary.unseen, summary.first_unseen_uid, summary.flags_in_use)


async def truth(
    engine: AsyncEngine, folder_id: int
) -> tuple[list[int], int, int | None, frozenset[str]]:
    """The summary computed from scratch from the rows, without any cache."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(messages.c.uid, messages.c.flags)
            .where(messages.c.folder_id == folder_id)
            .order_by(messages.c.uid)
        )
        pairs = [(row.uid, row.flags) for row in rows]
    return fresh(summarize(Folder(folder_id, ALICE, "", None, 1, 1, 1), pairs))


async def test_summary_cache_follows_changes_made_by_another_node(
    store: SqlMailboxStore, engine: AsyncEngine, keys: KeyRing
) -> None:
    """Two stores on one database: the first one's cached summaries stay right whatever
    either does (deliver, flags, expunge, copy, move in and out, rename INBOX)."""
    node2 = SqlMailboxStore(engine, MemoryBlobStore(), ChangeHub(), keyring=keys)
    rng = random.Random(7)
    fid = await inbox_id(store)
    trash = await store.get_folder(ALICE, "Trash")
    assert trash is not None
    flags = [frozenset({"\\Seen"}), frozenset({"\\Flagged"}), frozenset({"$Urgent", "\\Seen"})]
    for step in range(80):
        uids = list((await store.summary(fid)).uids)
        await store.summary(trash.id)
        action = rng.randrange(7)
        other = rng.choice([store, node2])
        picked = rng.sample(uids, min(len(uids), rng.randint(1, 3))) if uids else []
        if action <= 1 or not uids:
            await other.deliver(body(step), [Delivery(ALICE)])
        elif action == 2:
            mode = rng.choice(list(FlagMode))
            await other.store_flags(fid, picked, rng.choice(flags), mode)
        elif action == 3:
            await other.store_flags(fid, picked, frozenset({"\\Deleted"}), FlagMode.ADD)
            await other.expunge(fid)
        elif action == 4:
            await other.move_messages(fid, picked, trash.id)
        elif action == 5:
            await other.copy_messages(trash.id, list((await other.summary(trash.id)).uids), fid)
        else:
            await other.copy_messages(fid, picked, fid)
        assert fresh(await store.summary(fid)) == await truth(engine, fid), step
        assert fresh(await store.summary(trash.id)) == await truth(engine, trash.id), step
    await node2.rename_folder(ALICE, "INBOX", "Archive")
    assert fresh(await store.summary(fid)) == ([], 0, None, frozenset())
    await node2.close()


async def test_summary_after_a_large_expunge_on_this_node(
    store: SqlMailboxStore, engine: AsyncEngine
) -> None:
    fid = await inbox_id(store)
    await asyncio.gather(*(store.deliver(body(n), [Delivery(ALICE)]) for n in range(100)))
    await store.store_flags(fid, list(range(1, 101, 2)), frozenset({"\\Seen"}), FlagMode.ADD)
    assert (await store.summary(fid)).unseen == 50
    await store.store_flags(fid, list(range(1, 81)), frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.summary(fid)
    assert await store.expunge(fid) == list(range(1, 81))
    summary = await store.summary(fid)
    assert fresh(summary) == await truth(engine, fid)
    assert (list(summary.uids), summary.unseen, summary.first_unseen_uid) == (
        list(range(81, 101)),
        10,
        82,
    )
    assert summary.flags_in_use == {"\\Seen"}


async def test_summary_of_many_messages_in_one_delivery_batch(store: SqlMailboxStore) -> None:
    fid = await inbox_id(store)
    assert list((await store.summary(fid)).uids) == []
    await asyncio.gather(*(store.deliver(body(n), [Delivery(ALICE)]) for n in range(50)))
    summary = await store.summary(fid)
    assert list(summary.uids) == list(range(1, 51))
    assert (summary.unseen, summary.first_unseen_uid) == (50, 1)
    await store.store_flags(fid, list(range(1, 50)), frozenset({"\\Seen"}), FlagMode.ADD)
    summary = await store.summary(fid)
    assert (summary.unseen, summary.first_unseen_uid) == (1, 50)
    assert summary.flags_in_use == {"\\Seen"}


# --- quota under concurrency ----------------------------------------------------------------


async def test_concurrent_deliveries_never_pass_the_quota(store: SqlMailboxStore) -> None:
    size = len(body(0))
    await store.set_quota(ALICE, 5 * size)
    results = await asyncio.gather(
        *(store.deliver(body(n % 10), [Delivery(ALICE)]) for n in range(20))
    )
    delivered = [r[0] for r in results if isinstance(r[0], Delivered)]
    assert len(delivered) == 5
    usage = await store.usage(ALICE)
    assert (usage.bytes, usage.messages) == (5 * size, 5)


# --- migration 0004 -------------------------------------------------------------------------


async def test_migration_0004_counts_the_usage_of_existing_messages(
    sql_engine: AsyncEngine,
) -> None:
    async with sql_engine.begin() as conn:
        for meta in METADATA:
            await conn.run_sync(meta.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await upgrade(sql_engine, "0003")
    now = datetime.now(UTC)
    async with sql_engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO mbx_accounts (name, created_at) VALUES (:n, :t)"),
            [{"n": ALICE, "t": now}, {"n": BOB, "t": now}],
        )
        await conn.execute(
            text(
                "INSERT INTO mbx_folders (id, account, name, uidvalidity, uidnext, "
                "highest_modseq, subscribed) VALUES (1, :a, 'INBOX', 1, 3, 3, true)"
            ),
            {"a": ALICE},
        )
        await conn.execute(
            text(
                "INSERT INTO mbx_messages (folder_id, uid, modseq, flags, internal_date, size, "
                "blob_id) VALUES (1, :u, 2, '', :t, :s, :b)"
            ),
            [
                {"u": 1, "t": now, "s": 100, "b": "0" * 64},
                {"u": 2, "t": now, "s": 50, "b": "1" * 64},
            ],
        )
    await upgrade(sql_engine, "0004")
    async with sql_engine.connect() as conn:
        rows = await conn.execute(
            select(
                accounts.c.name, accounts.c.used_bytes, accounts.c.message_count, accounts.c.quota
            ).order_by(accounts.c.name)
        )
        assert [tuple(r) for r in rows] == [(ALICE, 150, 2, None), (BOB, 0, 0, None)]
        recent = (await conn.execute(select(folders.c.recent_uid))).scalar_one()
        assert recent == 1
    async with sql_engine.begin() as conn:  # the new table takes header rows
        await conn.execute(insert(headers).values(folder_id=1, uid=1, content=b"sealed"))
    async with sql_engine.begin() as conn:
        for meta in METADATA:
            await conn.run_sync(meta.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


async def test_summaries_during_concurrent_changes_end_right(
    store: SqlMailboxStore, engine: AsyncEngine
) -> None:
    fid = await inbox_id(store)
    await asyncio.gather(*(store.deliver(body(n), [Delivery(ALICE)]) for n in range(10)))
    seen = frozenset({"\\Seen"})
    await asyncio.gather(
        *(store.summary(fid) for _ in range(5)),
        *(store.deliver(body(n), [Delivery(ALICE)]) for n in range(10, 20)),
        *(store.store_flags(fid, [n], seen, FlagMode.ADD) for n in range(1, 8)),
        *(store.summary(fid) for _ in range(5)),
        store.move_messages(fid, [9, 10], (await inbox_id(store, BOB))),
    )
    assert fresh(await store.summary(fid)) == await truth(engine, fid)
