"""The SELECT summary of a folder this node created and filled is never read whole (issue 3,
"Speed": the first SELECT of a large mailbox), stays equal to the rows, and gives each
message's flag text (what ``FETCH 1:* (UID FLAGS)`` answers from). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store import sql_reads
from mailbox_store.blobs import FileBlobStore, KeyRing, MemoryBlobStore
from mailbox_store.inline import InlineBlobs
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import Delivered, Delivery, FlagMode
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import messages, metadata

ALICE = "alice@hopital.mssante.fr"


@pytest.fixture
async def engine(sql_engine: AsyncEngine) -> AsyncEngine:
    async with sql_engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    return sql_engine


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")


@pytest.fixture
async def store(
    engine: AsyncEngine, keys: KeyRing, tmp_path: Path
) -> AsyncIterator[SqlMailboxStore]:
    built = SqlMailboxStore(
        engine,
        FileBlobStore(tmp_path / "blobs", keys, fsync=False),
        ChangeHub(),
        inline=InlineBlobs(keys, 64 * 1024),
    )
    await built.create_account(ALICE)
    yield built
    await built.close()


def mail(n: int) -> bytes:
    return f"Subject: Compte rendu {n}\r\n\r\ntexte {n}\r\n".encode()


async def rows(engine: AsyncEngine, folder_id: int) -> tuple[list[int], list[str]]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(messages.c.uid, messages.c.flags)
            .where(messages.c.folder_id == folder_id)
            .order_by(messages.c.uid)
        )
        pairs = list(found)
    return [uid for uid, _ in pairs], [text for _, text in pairs]


async def fill(store: SqlMailboxStore, folder: str, count: int) -> None:
    async def one(n: int) -> None:
        flags = frozenset({"\\Seen"}) if n % 3 == 0 else frozenset()
        [done] = await store.deliver(mail(n), [Delivery(ALICE, folder, flags)])
        assert isinstance(done, Delivered)

    await asyncio.gather(*(one(n) for n in range(count)))  # batched by group commit


async def test_first_summary_of_a_folder_filled_here_reads_no_whole_folder(
    store: SqlMailboxStore, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = await store.create_folder(ALICE, "Big")
    await fill(store, "Big", 300)

    async def whole_folder_read(*args: object) -> None:
        raise AssertionError("the whole folder was read")

    monkeypatch.setattr(sql_reads, "uids_and_flags", whole_folder_read)  # cold read
    monkeypatch.setattr(sql_reads, "uid_flags", whole_folder_read)  # catching up by MODSEQ
    summary = await store.summary(folder.id)
    uids, texts = await rows(engine, folder.id)
    assert (list(summary.uids), list(summary.flag_texts)) == (uids, texts)
    assert summary.unseen == 200
    assert summary.first_unseen_uid == uids[1]
    assert summary.flags_in_use == frozenset({"\\Seen"})


async def test_write_through_summary_follows_flags_expunge_and_other_nodes(
    store: SqlMailboxStore, engine: AsyncEngine, keys: KeyRing
) -> None:
    inbox = await store.get_folder(ALICE, "INBOX")
    assert inbox is not None
    await fill(store, "INBOX", 40)
    node2 = SqlMailboxStore(engine, MemoryBlobStore(), ChangeHub(), keyring=keys)
    try:
        await node2.deliver(mail(99), [Delivery(ALICE, "INBOX")])  # not seen by this node
        await fill(store, "INBOX", 5)
        first = list((await store.summary(inbox.id)).uids)
        await store.store_flags(inbox.id, first[:4], frozenset({"\\Deleted"}), FlagMode.ADD)
        await store.expunge(inbox.id)
        await node2.store_flags(inbox.id, first[10:12], frozenset({"$Urgent"}), FlagMode.ADD)
        await fill(store, "INBOX", 3)
        summary = await store.summary(inbox.id)
        uids, texts = await rows(engine, inbox.id)
        assert (list(summary.uids), list(summary.flag_texts)) == (uids, texts)
        assert "$Urgent" in summary.flags_in_use
    finally:
        await node2.close()


async def test_memory_store_gives_flag_texts_and_ranges_without_sorting() -> None:
    store = MemoryMailboxStore()
    await store.create_account(ALICE)
    for n in range(20):
        flags = frozenset({"\\Seen", "$A"}) if n % 2 else frozenset()
        await store.deliver(mail(n), [Delivery(ALICE, "INBOX", flags)])
    inbox = await store.get_folder(ALICE, "INBOX")
    assert inbox is not None
    await store.store_flags(inbox.id, [3, 4], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(inbox.id)
    summary = await store.summary(inbox.id)
    assert list(summary.uids) == [u for u in range(1, 21) if u not in (3, 4)]
    assert summary.flag_texts[0] == ""
    assert summary.flag_texts[1] == "$A \\Seen"
    last = await store.list_messages(inbox.id, 17)
    assert [r.uid for r in last] == [17, 18, 19, 20]
    await store.deliver(mail(21), [Delivery(ALICE, "INBOX")])
    assert [r.uid for r in await store.list_messages(inbox.id, 20, 21)] == [20, 21]
