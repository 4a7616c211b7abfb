"""The queue of a SQLite database's writers (``mailbox_store.write_lock``): one writer at a
time, in arrival order, the group-commit writer first; a cancelled waiter neither blocks the
queue nor keeps the turn; other databases do not queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailbox_store import write_lock
from mailbox_store.blobs import MemoryBlobStore
from mailbox_store.models import Delivered, Delivery, FlagMode
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import metadata
from mailbox_store.write_lock import WriteQueue, queued_writer
from mss.db import make_engine

SEEN = frozenset({"\\Seen"})


async def test_turns_in_arrival_order_the_first_writer_ahead() -> None:
    queue = WriteQueue()
    order: list[str] = []
    await queue.acquire()  # held

    async def writer(name: str, first: bool = False) -> None:
        await queue.acquire(first)
        order.append(name)
        await asyncio.sleep(0)
        queue.release()

    tasks = [asyncio.create_task(writer(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(writer("group-commit", first=True)))
    await asyncio.sleep(0)
    queue.release()
    await asyncio.gather(*tasks)
    assert order == ["group-commit", "a", "b"]


async def test_a_cancelled_waiter_does_not_keep_the_turn() -> None:
    queue = WriteQueue()
    await queue.acquire()
    waiting = asyncio.create_task(queue.acquire())
    behind = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    queue.release()
    await asyncio.wait_for(behind, 1)  # the turn went past the cancelled waiter
    queue.release()
    await asyncio.wait_for(queue.acquire(), 1)  # and the queue is free again


async def test_granted_then_cancelled_passes_the_turn_on() -> None:
    queue = WriteQueue()
    await queue.acquire()
    granted = asyncio.create_task(queue.acquire())
    behind = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    queue.release()  # granted's future is set ...
    granted.cancel()  # ... but it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await granted
    await asyncio.wait_for(behind, 1)


async def test_writers_of_one_sqlite_file_take_turns(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}", fsync=False)
    inside = 0
    most = 0

    async def write() -> None:
        nonlocal inside, most
        async with queued_writer(engine):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    try:
        await asyncio.gather(*(write() for _ in range(20)))
        assert most == 1
    finally:
        await engine.dispose()


async def test_no_queue_for_databases_in_memory() -> None:
    engine = make_engine("sqlite+aiosqlite:///:memory:", fsync=False)
    try:
        async with queued_writer(engine), queued_writer(engine):  # nested: no queue to wait for
            pass
    finally:
        await engine.dispose()


async def test_a_holder_that_never_leaves_only_slows_writers_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write_lock, "WAIT_LIMIT", 0.05)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}", fsync=False)
    try:
        async with queued_writer(engine), queued_writer(engine):  # 2nd: after WAIT_LIMIT
            pass
    finally:
        await engine.dispose()


async def test_a_store_that_changes_nothing_does_not_wait_for_the_writers(tmp_path: Path) -> None:
    """``STORE +FLAGS (\\Seen)`` on messages already seen is answered from a read: it neither
    waits for the write queue nor changes any MODSEQ (RFC 7162 §3.1.3); a real change waits."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", fsync=False)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    store = SqlMailboxStore(engine, MemoryBlobStore(), ChangeHub())
    try:
        await store.create_account("a@x.fr")
        [done] = await store.deliver(b"Subject: s\r\n\r\nx\r\n", [Delivery("a@x.fr", flags=SEEN)])
        assert isinstance(done, Delivered)
        before = await store.list_messages(done.folder_id)
        async with queued_writer(engine):  # another writer holds the turn
            same = await asyncio.wait_for(
                store.store_flags(done.folder_id, [done.uid], SEEN, FlagMode.ADD), 1
            )
            assert same == before
            change = asyncio.create_task(
                store.store_flags(done.folder_id, [done.uid], SEEN, FlagMode.REMOVE)
            )
            await asyncio.sleep(0.05)
            assert not change.done()
        [after] = await asyncio.wait_for(change, 1)
        assert after.flags == frozenset()
        assert after.modseq > before[0].modseq
    finally:
        await store.close()
        await engine.dispose()
