"""One suite for every mailbox store backend: memory, SQLite and PostgreSQL.

The last section tests what only the SQL store has: group commit and its failure modes.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mailbox_store.batch_writers import EngineBatchWriter, SqliteThreadWriter, make_batch_writer
from mailbox_store.blobs import FileBlobStore, KeyRing, MemoryBlobStore
from mailbox_store.dialect import begin_write
from mailbox_store.errors import (
    FolderExists,
    StorageUnavailable,
    UnknownAccount,
    UnknownFolder,
    UnknownMessage,
)
from mailbox_store.filing import DeliveryRequest, FiledBatch
from mailbox_store.group_commit import GroupCommitStats, GroupCommitter
from mailbox_store.interfaces import BlobStore, MailboxStore
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import (
    DEFAULT_FOLDERS,
    Change,
    ChangeKind,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    SpecialUse,
)
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import accounts, headers, messages, metadata
from mss.db import make_engine

ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"
NOBODY = "nobody@hopital.mssante.fr"


def keyring() -> KeyRing:
    return KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")


async def reset_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    """The engine of the SQL backends (None for memory), resolved only when needed."""
    if backend == "memory":
        return None
    fixture = "sqlite_engine" if backend == "sqlite" else "pg_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    hub = ChangeHub()
    built: MailboxStore
    if engine is None:
        built = MemoryMailboxStore(hub)
    else:
        await reset_schema(engine)
        blobs = FileBlobStore(tmp_path / "blobs", keyring(), fsync=False)
        built = SqlMailboxStore(engine, blobs, hub)
    yield built
    await built.close()


async def inbox(store: MailboxStore, account: str = ALICE) -> Folder:
    folder = await store.get_folder(account, "INBOX")
    assert folder is not None
    return folder


async def deliver_one(store: MailboxStore, body: bytes, account: str = ALICE) -> Delivered:
    [result] = await store.deliver(body, [Delivery(account)])
    assert isinstance(result, Delivered), result
    return result


async def next_change(subscription: Any, wait: float = 2.0) -> Change:
    change: Change = await asyncio.wait_for(anext(aiter(subscription)), wait)
    return change


# --- accounts and folders -------------------------------------------------------------------


async def test_create_account_is_idempotent_with_default_folders(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    first = await store.list_folders(ALICE)
    await store.create_account(ALICE)
    assert await store.list_folders(ALICE) == first
    assert [(f.name, f.special_use) for f in first] == list(DEFAULT_FOLDERS)
    assert {f.special_use for f in first} == {None, *SpecialUse}
    for folder in first:
        assert 0 < folder.uidvalidity < 2**32
        assert folder.uidnext == 1
        assert folder.highest_modseq >= 1
        assert folder.account == ALICE
    assert len({f.id for f in first}) == 5


async def test_unknown_account_has_no_folders(store: MailboxStore) -> None:
    with pytest.raises(UnknownAccount):
        await store.list_folders(NOBODY)
    assert await store.get_folder(NOBODY, "INBOX") is None
    with pytest.raises(UnknownAccount):
        await store.create_folder(NOBODY, "Archives")


async def test_create_folder_then_exists(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    created = await store.create_folder(ALICE, "Archives/2024", SpecialUse.TRASH)
    assert await store.get_folder(ALICE, "Archives/2024") == created
    assert created.special_use is SpecialUse.TRASH
    assert created.uidnext == 1
    with pytest.raises(FolderExists):
        await store.create_folder(ALICE, "Archives/2024")
    assert [f.name for f in await store.list_folders(ALICE)][-1] == "Archives/2024"


async def test_folders_of_two_accounts_have_distinct_uidvalidity(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    await store.create_account(BOB)
    alice, bob = await inbox(store, ALICE), await inbox(store, BOB)
    assert alice.id != bob.id
    assert alice.uidvalidity != bob.uidvalidity


# --- delivery -------------------------------------------------------------------------------


async def test_deliver_to_three_targets_one_account_unknown(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    await store.create_account(BOB)
    targets = [Delivery(ALICE), Delivery(NOBODY), Delivery(BOB, "Junk")]
    results = await store.deliver(b"Subject: hi\r\n\r\nhello\r\n", targets)
    assert isinstance(results[0], Delivered)
    assert isinstance(results[1], UnknownAccount)
    assert isinstance(results[2], Delivered)
    assert results[0].account == ALICE
    assert results[2].account == BOB
    junk = await store.get_folder(BOB, "Junk")
    assert junk is not None
    assert results[2].folder_id == junk.id
    assert results[2].uidvalidity == junk.uidvalidity


async def test_deliver_to_unknown_folder_fails_alone(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    results = await store.deliver(b"x", [Delivery(ALICE, "Nope"), Delivery(ALICE)])
    assert isinstance(results[0], UnknownFolder)
    assert isinstance(results[1], Delivered)
    assert [m.uid for m in await store.list_messages(results[1].folder_id)] == [results[1].uid]


async def test_body_round_trip_is_byte_identical(store: MailboxStore) -> None:
    """MSS-MSG-1: headers and body come back byte for byte (CRLF, 8-bit, NUL, long lines)."""
    body = (
        b"X-MSS-INS: O\r\nDisposition-Notification-To: <a@b.fr>\r\n"
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\n"
        b"\r\n" + bytes(range(256)) + b"\n\r\n" + b"x" * 5000 + b"\r\n.\r\n"
    )
    await store.create_account(ALICE)
    delivered = await deliver_one(store, body)
    assert await store.get_body(delivered.folder_id, delivered.uid) == body
    [record] = await store.list_messages(delivered.folder_id)
    assert record.size == len(body)
    assert record.blob_id == hashlib.sha256(body).hexdigest()


async def test_internal_date_and_flags_are_kept(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    paris = timezone(timedelta(hours=2))
    when = datetime(2024, 6, 1, 14, 30, 5, 250000, tzinfo=paris)
    flags = frozenset({"\\Seen", "$Label1"})
    [result] = await store.deliver(b"x", [Delivery(ALICE, "INBOX", flags)], when)
    assert isinstance(result, Delivered)
    [record] = await store.list_messages(result.folder_id)
    assert record.internal_date == when
    assert record.internal_date.tzinfo is not None
    assert record.internal_date.utcoffset() == timedelta(hours=2)  # its zone kept (0010)
    assert record.flags == flags


async def test_deliver_defaults_internal_date_to_now(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    before = datetime.now(UTC)
    delivered = await deliver_one(store, b"x")
    [record] = await store.list_messages(delivered.folder_id)
    assert before - timedelta(seconds=1) <= record.internal_date <= datetime.now(UTC)


async def test_invalid_flag_or_naive_date_is_refused(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    with pytest.raises(ValueError, match="flag"):
        await store.deliver(b"x", [Delivery(ALICE, "INBOX", frozenset({"two words"}))])
    with pytest.raises(ValueError, match="aware"):
        await store.deliver(b"x", [Delivery(ALICE)], datetime(2024, 1, 1))  # noqa: DTZ001
    assert await store.list_messages((await inbox(store)).id) == []


async def test_uids_strictly_increase_and_uidvalidity_is_stable(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    before = await inbox(store)
    uids = []
    for n in range(5):
        delivered = await deliver_one(store, f"message {n}".encode())
        assert delivered.uidvalidity == before.uidvalidity
        uids.append(delivered.uid)
    assert uids == sorted(set(uids))
    after = await inbox(store)
    assert after.uidvalidity == before.uidvalidity
    assert after.uidnext == uids[-1] + 1
    assert after.highest_modseq > before.highest_modseq
    records = await store.list_messages(after.id)
    assert [r.modseq for r in records] == sorted({r.modseq for r in records})


async def test_same_body_twice_gets_two_uids(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    first, second = await deliver_one(store, b"same"), await deliver_one(store, b"same")
    assert second.uid > first.uid
    assert await store.get_body(second.folder_id, second.uid) == b"same"


async def test_fifty_concurrent_delivers_get_distinct_uids(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    await store.create_account(BOB)
    bodies = [f"message {n}\r\n".encode() * 100 for n in range(50)]
    results = await asyncio.gather(
        *(store.deliver(body, [Delivery(ALICE), Delivery(BOB)]) for body in bodies)
    )
    alice_uids = []
    for result in results:
        assert all(isinstance(r, Delivered) for r in result), result
        alice_uids.append(result[0].uid)  # type: ignore[union-attr]
    assert len(set(alice_uids)) == 50
    records = await store.list_messages((await inbox(store)).id)
    assert sorted(alice_uids) == [r.uid for r in records]
    for record in records[:5]:
        body = await store.get_body(record.folder_id, record.uid)
        assert hashlib.sha256(body).hexdigest() == record.blob_id
    assert len(await store.list_messages((await inbox(store, BOB)).id)) == 50


async def test_flag_changes_during_deliveries_keep_modseq_unique(store: MailboxStore) -> None:
    """Deliveries (group commit) and flag changes (ordinary transactions) interleave safely."""
    await store.create_account(ALICE)
    first = [await deliver_one(store, bytes([n])) for n in range(5)]
    folder_id = first[0].folder_id
    seen = frozenset({"\\Seen"})
    await asyncio.gather(
        *(store.deliver(bytes([100 + n]), [Delivery(ALICE)]) for n in range(15)),
        *(store.store_flags(folder_id, [d.uid], seen, FlagMode.ADD) for d in first),
    )
    records = await store.list_messages(folder_id)
    assert len(records) == 20
    assert len({r.modseq for r in records}) == 20
    assert (await inbox(store)).highest_modseq == max(r.modseq for r in records)
    assert all(r.flags == seen for r in records if r.uid in {d.uid for d in first})


async def test_list_messages_by_uid_range(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    uids = [(await deliver_one(store, bytes([n]))).uid for n in range(5)]
    folder_id = (await inbox(store)).id
    assert [m.uid for m in await store.list_messages(folder_id, uids[1], uids[3])] == uids[1:4]
    assert [m.uid for m in await store.list_messages(folder_id, uids[3])] == uids[3:]
    assert await store.list_messages(folder_id, uids[-1] + 1) == []


async def test_unknown_folder_and_message(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    folder_id = (await inbox(store)).id
    with pytest.raises(UnknownFolder):
        await store.list_messages(999_999)
    with pytest.raises(UnknownFolder):
        await store.get_body(999_999, 1)
    with pytest.raises(UnknownMessage):
        await store.get_body(folder_id, 1)
    with pytest.raises(UnknownFolder):
        await store.store_flags(999_999, [1], frozenset({"\\Seen"}), FlagMode.ADD)
    with pytest.raises(UnknownFolder):
        await store.expunge(999_999)


# --- flags and expunge ----------------------------------------------------------------------


async def test_flags_add_remove_replace_raise_modseq(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    one, two = await deliver_one(store, b"1"), await deliver_one(store, b"2")
    folder_id = one.folder_id
    start = (await inbox(store)).highest_modseq

    [added] = await store.store_flags(
        folder_id, [one.uid], frozenset({"\\Seen", "\\Flagged"}), FlagMode.ADD
    )
    assert added.flags == {"\\Seen", "\\Flagged"}
    assert added.modseq > start

    both = await store.store_flags(
        folder_id, [one.uid, two.uid], frozenset({"\\Seen"}), FlagMode.REMOVE
    )
    assert [(r.uid, r.flags) for r in both] == [(one.uid, {"\\Flagged"}), (two.uid, frozenset())]
    assert both[0].modseq > added.modseq
    assert both[1].modseq < added.modseq  # unchanged message keeps its MODSEQ

    [replaced] = await store.store_flags(
        folder_id, [two.uid], frozenset({"$Forwarded"}), FlagMode.REPLACE
    )
    assert replaced.flags == {"$Forwarded"}
    assert replaced.modseq > both[0].modseq
    assert (await inbox(store)).highest_modseq == replaced.modseq

    listed = {r.uid: r for r in await store.list_messages(folder_id)}
    assert listed[one.uid].flags == {"\\Flagged"}
    assert listed[two.uid] == replaced


async def test_store_without_change_keeps_modseq(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    one = await deliver_one(store, b"1")
    before = await inbox(store)
    [same] = await store.store_flags(
        one.folder_id, [one.uid, 404], frozenset({"\\Seen"}), FlagMode.REMOVE
    )
    assert same.flags == frozenset()
    assert (await inbox(store)).highest_modseq == before.highest_modseq


async def test_expunge_removes_only_deleted_messages(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    uids = [(await deliver_one(store, bytes([n]))).uid for n in range(4)]
    folder_id = (await inbox(store)).id
    deleted = frozenset({"\\Deleted"})
    await store.store_flags(folder_id, [uids[0], uids[2], uids[3]], deleted, FlagMode.ADD)
    await store.store_flags(folder_id, [uids[1]], frozenset({"\\DeletedNot"}), FlagMode.ADD)
    before = (await inbox(store)).highest_modseq

    assert await store.expunge(folder_id, [uids[1], uids[2]]) == [uids[2]]
    assert await store.expunge(folder_id) == [uids[0], uids[3]]
    assert await store.expunge(folder_id) == []

    assert [m.uid for m in await store.list_messages(folder_id)] == [uids[1]]
    assert (await inbox(store)).highest_modseq == before + 2
    with pytest.raises(UnknownMessage):
        await store.get_body(folder_id, uids[0])


async def test_uids_are_not_reused_after_expunge(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    first = await deliver_one(store, b"1")
    await store.store_flags(first.folder_id, [first.uid], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(first.folder_id)
    assert (await deliver_one(store, b"2")).uid > first.uid


# --- change notifications -------------------------------------------------------------------


async def test_subscription_sees_exists_flags_and_expunge_of_its_account(
    store: MailboxStore,
) -> None:
    await store.create_account(ALICE)
    await store.create_account(BOB)
    alice, bob = store.subscribe(ALICE), store.subscribe(BOB)
    try:
        delivered = await deliver_one(store, b"hello")
        exists = await next_change(alice)
        assert (exists.kind, exists.folder_id, exists.uids) == (
            ChangeKind.EXISTS,
            delivered.folder_id,
            (delivered.uid,),
        )
        assert exists.account == ALICE

        flagged = await store.store_flags(
            delivered.folder_id, [delivered.uid], frozenset({"\\Deleted"}), FlagMode.ADD
        )
        change = await next_change(alice)
        assert (change.kind, change.uids, change.modseq) == (
            ChangeKind.FLAGS,
            (delivered.uid,),
            flagged[0].modseq,
        )

        await store.expunge(delivered.folder_id)
        expunged = await next_change(alice)
        assert (expunged.kind, expunged.uids) == (ChangeKind.EXPUNGE, (delivered.uid,))
        assert expunged.modseq > change.modseq

        with pytest.raises(TimeoutError):
            await next_change(bob, wait=0.05)
    finally:
        alice.close()
        bob.close()


async def test_closed_subscription_receives_nothing(store: MailboxStore) -> None:
    await store.create_account(ALICE)
    subscription = store.subscribe(ALICE)
    subscription.close()
    await deliver_one(store, b"x")
    assert [change async for change in subscription] == []


# --- SQL only: group commit -----------------------------------------------------------------


@pytest.fixture
def sql_engine(engine: AsyncEngine | None) -> AsyncEngine:
    if engine is None:
        pytest.skip("SQL backends only")
    return engine


async def sql_store(
    engine: AsyncEngine, blobs: BlobStore | None = None, *, group_commit_max: int = 128
) -> SqlMailboxStore:
    await reset_schema(engine)
    built = SqlMailboxStore(
        engine, blobs or MemoryBlobStore(), ChangeHub(), group_commit_max=group_commit_max
    )
    await built.create_account(ALICE)
    return built


async def test_concurrent_delivers_share_one_commit(sql_engine: AsyncEngine) -> None:
    store = await sql_store(sql_engine)
    results = await asyncio.gather(
        *(store.deliver(bytes([n]), [Delivery(ALICE), Delivery(ALICE, "Sent")]) for n in range(20))
    )
    assert all(isinstance(r[0], Delivered) for r in results)
    assert store.group_commit_stats == GroupCommitStats(batches=1, requests=20, targets=40)
    await store.close()


async def test_group_commit_max_bounds_the_batch(sql_engine: AsyncEngine) -> None:
    store = await sql_store(sql_engine, group_commit_max=3)
    await asyncio.gather(*(store.deliver(bytes([n]), [Delivery(ALICE)]) for n in range(10)))
    assert store.group_commit_stats.batches == 4
    assert len(await store.list_messages((await inbox(store)).id)) == 10
    await store.close()


async def test_damaged_folder_fails_alone_in_its_batch(sql_engine: AsyncEngine) -> None:
    """A constraint violation in one folder rolls back that target's SAVEPOINT only."""
    store = await sql_store(sql_engine)
    folder = await inbox(store)
    async with sql_engine.begin() as conn:  # a stray row where the next UID will go
        await conn.execute(
            insert(messages).values(
                folder_id=folder.id,
                uid=folder.uidnext,
                modseq=1,
                flags="",
                internal_date=datetime.now(UTC),
                size=0,
                blob_id="0" * 64,
            )
        )
    damaged, healthy = await asyncio.gather(
        store.deliver(b"a", [Delivery(ALICE)]), store.deliver(b"b", [Delivery(ALICE, "Sent")])
    )
    assert isinstance(damaged[0], StorageUnavailable)
    assert damaged[0].temporary
    assert isinstance(healthy[0], Delivered)
    assert await inbox(store) == folder  # UIDNEXT and MODSEQ rolled back with the savepoint
    assert [m.uid for m in await store.list_messages(healthy[0].folder_id)] == [healthy[0].uid]
    await store.close()


async def test_failed_transaction_fails_the_whole_batch(sql_engine: AsyncEngine) -> None:
    """A failure that is not one target's: every request gets StorageUnavailable, nothing is
    kept (not even the UIDs allocated before it), and the writer goes on afterwards."""
    store = await sql_store(sql_engine)
    before = await inbox(store)
    async with sql_engine.begin() as conn:  # header rows refer to message rows: both go
        await conn.run_sync(headers.drop)
        await conn.run_sync(messages.drop)
    results = await asyncio.gather(
        store.deliver(b"a", [Delivery(ALICE)]), store.deliver(b"b", [Delivery(ALICE, "Sent")])
    )
    assert all(isinstance(r[0], StorageUnavailable) and r[0].temporary for r in results)
    assert store.group_commit_stats.batches == 0
    async with sql_engine.begin() as conn:
        await conn.run_sync(messages.create)
        await conn.run_sync(headers.create)
    assert await inbox(store) == before
    assert isinstance((await store.deliver(b"c", [Delivery(ALICE)]))[0], Delivered)
    await store.close()


class FailingWriter:
    """A batch writer whose commit always fails."""

    def __init__(self) -> None:
        self.closed = False

    async def write(self, requests: list[DeliveryRequest]) -> FiledBatch:
        raise OSError("disk full")

    async def close(self) -> None:
        self.closed = True


async def test_failed_commit_answers_every_caller() -> None:
    writer = FailingWriter()
    committer = GroupCommitter(writer, ChangeHub())
    now = datetime.now(UTC)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(
                committer.submit("0" * 64, 1, (Delivery(ALICE), Delivery(BOB)), now)
                for _ in range(5)
            )
        ),
        10,
    )
    assert all(isinstance(r, StorageUnavailable) for result in results for r in result)
    assert all(len(result) == 2 for result in results)
    await committer.close()
    assert writer.closed


async def test_close_finishes_queued_deliveries(sql_engine: AsyncEngine) -> None:
    store = await sql_store(sql_engine)
    pending = [asyncio.create_task(store.deliver(bytes([n]), [Delivery(ALICE)])) for n in range(10)]
    await asyncio.sleep(0)  # every request is queued, none committed yet
    await asyncio.wait_for(store.close(), 10)
    results = await asyncio.wait_for(asyncio.gather(*pending), 10)
    assert all(isinstance(r[0], Delivered) for r in results)
    with pytest.raises(StorageUnavailable):
        await store.deliver(b"late", [Delivery(ALICE)])
    await store.close()  # idempotent


async def test_one_blob_file_per_message_whatever_the_targets(
    sql_engine: AsyncEngine, tmp_path: Path
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs", keyring(), fsync=True)
    store = await sql_store(sql_engine, blobs)
    targets = [Delivery(ALICE), Delivery(ALICE, "Sent"), Delivery(ALICE, "Drafts")]
    results = await store.deliver(b"one body, three copies", targets)
    assert all(isinstance(r, Delivered) for r in results)
    assert len([p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]) == 1
    await store.close()


async def test_sqlite_writer_copies_the_engine_pragmas(tmp_path: Path) -> None:
    """The writer's own connection is as durable as the engine it was given."""
    for fsync, synchronous in ((True, 2), (False, 0)):
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / f'{fsync}.db'}", fsync=fsync)
        writer = make_batch_writer(engine)
        assert isinstance(writer, SqliteThreadWriter)
        pragmas = await writer.pragmas()
        assert pragmas == {"synchronous": synchronous, "foreign_keys": 1, "busy_timeout": 10_000}
        await writer.close()
        await engine.dispose()


def test_in_memory_sqlite_and_postgres_use_the_engine_writer() -> None:
    for url in (
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite:///file:shared?mode=memory&uri=true",
        "postgresql+asyncpg://h/db",
    ):
        engine = create_async_engine(url, poolclass=NullPool)  # built, never connected
        assert isinstance(make_batch_writer(engine), EngineBatchWriter)


async def test_savepoint_rolls_back_alone(sql_engine: AsyncEngine) -> None:
    """SQLite's stdlib driver breaks SAVEPOINT unless the transaction is begun explicitly."""
    await reset_schema(sql_engine)
    now = datetime.now(UTC)
    async with begin_write(sql_engine) as conn:
        await conn.execute(insert(accounts).values(name=ALICE, created_at=now))
        with pytest.raises(RuntimeError, match="this target only"):
            await insert_in_failing_savepoint(conn, BOB)
    with pytest.raises(RuntimeError, match="the whole batch"):
        await release_savepoint_then_fail(sql_engine, NOBODY)
    async with sql_engine.connect() as conn:
        names = (await conn.execute(select(accounts.c.name))).scalars().all()
    assert names == [ALICE]


async def insert_in_failing_savepoint(conn: AsyncConnection, account: str) -> None:
    async with conn.begin_nested():
        await conn.execute(insert(accounts).values(name=account, created_at=datetime.now(UTC)))
        raise RuntimeError("this target only")


async def release_savepoint_then_fail(engine: AsyncEngine, account: str) -> None:
    async with begin_write(engine) as conn:
        async with conn.begin_nested():
            await conn.execute(insert(accounts).values(name=account, created_at=datetime.now(UTC)))
        raise RuntimeError("the whole batch")
