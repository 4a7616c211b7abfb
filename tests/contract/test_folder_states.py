"""SELECT summaries after restarts, on every backend (memory, SQLite, PostgreSQL): a node that
starts reads a folder's saved state (``mailbox_store.summary_store``) and catches up by MODSEQ;
whatever other nodes did meanwhile (deliveries, flag changes, COPY, EXPUNGE, concurrently with
the reading), the summary is the folder's real state. A saved state made stale by a removal, an
older state, an unreadable one, the state of a deleted folder: none ever shows a wrong state.
Also the \\Recent marks (RFC 3501 §2.3.2) across restarts.

"Restart" is a new store on the same database (a new node's memory); the memory store has no
restart: the same checks run on its one instance.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store import sql_reads
from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.interfaces import MailboxStore
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import Delivered, Delivery, FlagMode, FolderSummary
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import encode_flags, folder_states, folders, metadata

ALICE = "alice@hopital.mssante.fr"
SEEN, DELETED, URGENT = (frozenset({f}) for f in ("\\Seen", "\\Deleted", "$Urgent"))
SAVE_MIN = 10  # states of folders from 10 messages up (2,000 in production)


class Nodes:
    """Stores sharing one database; ``restart`` gives a node with an empty memory."""

    def __init__(self, engine: AsyncEngine | None, tmp_path: Path) -> None:
        self.engine = engine
        self._tmp = tmp_path
        self._keys = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")
        self._open: list[MailboxStore] = []
        self._memory = MemoryMailboxStore(ChangeHub()) if engine is None else None

    def node(self) -> MailboxStore:
        if self._memory is not None:
            return self._memory
        blobs = FileBlobStore(self._tmp / "blobs", self._keys, fsync=False)
        assert self.engine is not None
        built = SqlMailboxStore(
            self.engine, blobs, ChangeHub(), keyring=self._keys, summary_save_min=SAVE_MIN
        )
        self._open.append(built)
        return built

    async def save(self, store: MailboxStore) -> int:
        """Save the states due now (what the background saver does)."""
        if isinstance(store, SqlMailboxStore):
            return await store.summaries.save_due()
        return 0

    async def stop(self, store: MailboxStore) -> None:
        """A clean shutdown (saves what is due)."""
        if isinstance(store, SqlMailboxStore):
            self._open.remove(store)
            await store.close()

    async def close(self) -> None:
        for store in self._open:
            await store.close()


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    found: AsyncEngine = request.getfixturevalue(
        "sqlite_engine" if backend == "sqlite" else "pg_engine"
    )
    return found


@pytest.fixture
async def nodes(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[Nodes]:
    if engine is not None:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    built = Nodes(engine, tmp_path)
    await built.node().create_account(ALICE)
    yield built
    await built.close()


def mail(n: int) -> bytes:
    return f"Subject: Compte rendu {n}\r\nMessage-ID: <{n}@chu>\r\n\r\ntexte {n}\r\n".encode()


async def fill(store: MailboxStore, name: str, count: int, start: int = 0) -> list[int]:
    """``count`` deliveries at once (batched by group commit); a third with \\Seen."""

    async def one(n: int) -> int:
        flags = SEEN if n % 3 == 0 else frozenset()
        [done] = await store.deliver(mail(n), [Delivery(ALICE, name, flags)])
        assert isinstance(done, Delivered), done
        return done.uid

    return sorted(await asyncio.gather(*(one(n) for n in range(start, start + count))))


async def assert_real(store: MailboxStore, summary: FolderSummary) -> None:
    """``summary`` is exactly what the folder holds (read message by message)."""
    records = await store.list_messages(summary.folder.id)
    unseen = [r.uid for r in records if "\\Seen" not in r.flags]
    assert list(summary.uids) == [r.uid for r in records]
    assert list(summary.flag_texts) == [encode_flags(r.flags) for r in records]
    assert summary.unseen == len(unseen)
    assert summary.first_unseen_uid == (unseen[0] if unseen else None)
    assert summary.flags_in_use == frozenset().union(*(r.flags for r in records))
    assert summary.folder.highest_modseq >= max((r.modseq for r in records), default=0)


def forbid_whole_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def whole_folder_read(*args: object) -> None:
        raise AssertionError("the whole folder was read")

    monkeypatch.setattr(sql_reads, "uids_and_flags", whole_folder_read)


async def test_restarted_node_catches_up_on_what_other_nodes_did(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = nodes.node(), nodes.node()
    big = await first.create_folder(ALICE, "Big")
    source = await first.create_folder(ALICE, "Source")
    uids = await fill(first, "Big", 60)
    await fill(first, "Source", 5)
    await assert_real(first, await first.summary(big.id))
    assert await nodes.save(first) == (0 if nodes.engine is None else 1)
    await nodes.stop(first)
    # Another node, meanwhile: deliveries, flags (a new keyword), COPY into the folder.
    await asyncio.gather(
        fill(other, "Big", 7, start=100),
        other.store_flags(big.id, uids[10:20], URGENT, FlagMode.ADD),
        other.store_flags(big.id, uids[:30:2], SEEN, FlagMode.REMOVE),
        other.copy_messages(source.id, [1, 2, 3], big.id),
    )
    restarted = nodes.node()
    if nodes.engine is not None:
        forbid_whole_reads(monkeypatch)  # the saved state and the changes since suffice
    summary = await restarted.summary(big.id)
    monkeypatch.undo()
    await assert_real(restarted, summary)
    assert "$Urgent" in summary.flags_in_use


async def test_a_removal_after_the_saved_state_is_never_missed(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, other = nodes.node(), nodes.node()
    big = await first.create_folder(ALICE, "Big")
    uids = await fill(first, "Big", 40)
    await first.summary(big.id)
    await nodes.save(first)
    await nodes.stop(first)
    await other.store_flags(big.id, uids[5:9], DELETED, FlagMode.ADD)
    assert await other.expunge(big.id) == uids[5:9]  # the saved state still holds them
    await fill(other, "Big", 3, start=200)
    restarted = nodes.node()
    summary = await restarted.summary(big.id)
    await assert_real(restarted, summary)
    assert not set(uids[5:9]) & set(summary.uids)
    # That node saves the state again (a removal made the old one unusable) ...
    assert await nodes.save(restarted) == (0 if nodes.engine is None else 1)
    await nodes.stop(restarted)
    # ... so the next one needs no whole read, and follows a MOVE out of the folder too.
    trash = await other.get_folder(ALICE, "Trash")
    assert trash is not None
    await other.move_messages(big.id, uids[20:22], trash.id)
    again = nodes.node()
    summary = await again.summary(big.id)  # the MOVE is a removal: read whole, correctly
    await assert_real(again, summary)
    assert not set(uids[20:22]) & set(summary.uids)
    if nodes.engine is not None:
        await nodes.save(again)
        forbid_whole_reads(monkeypatch)
        await assert_real(again, await nodes.node().summary(big.id))


async def test_summaries_read_while_nodes_write_match_the_rows(nodes: Nodes) -> None:
    """Summaries of restarted nodes taken while two nodes deliver, flag, expunge and save;
    once the writers stop, every node's next summary is the real state."""
    writer, flagger = nodes.node(), nodes.node()
    big = await writer.create_folder(ALICE, "Big")
    await fill(writer, "Big", 50)
    await writer.summary(big.id)
    await nodes.save(writer)
    rng = random.Random(7)  # a workload, not a secret
    readers = [nodes.node() for _ in range(3)]
    stop = asyncio.Event()

    async def write() -> None:
        for n in range(12):
            await fill(writer, "Big", 4, start=1000 + 10 * n)
            await nodes.save(writer)

    async def flag_and_expunge() -> None:
        for _ in range(12):
            present = list((await flagger.summary(big.id)).uids)
            chosen = rng.sample(present, 5)
            await flagger.store_flags(big.id, chosen[:3], DELETED, FlagMode.ADD)
            await flagger.store_flags(big.id, chosen[3:], URGENT, FlagMode.ADD)
            await flagger.expunge(big.id, chosen[:2])
            await nodes.save(flagger)

    async def read(reader: MailboxStore) -> None:
        while not stop.is_set():
            summary = await reader.summary(big.id)
            assert list(summary.uids) == sorted(set(summary.uids))
            assert len(summary.flag_texts) == len(summary.uids)
            await nodes.save(reader)
            await asyncio.sleep(0)

    async def writers() -> None:
        await asyncio.gather(write(), flag_and_expunge())
        stop.set()

    await asyncio.gather(writers(), *(read(r) for r in readers))
    for store in [*readers, writer, flagger, nodes.node()]:
        await assert_real(store, await store.summary(big.id))


# --- SQL only: what is saved ------------------------------------------------------------------


@pytest.fixture
def sql_nodes(nodes: Nodes) -> Nodes:
    if nodes.engine is None:
        pytest.skip("saved states are the SQL store's")
    return nodes


async def saved(engine: AsyncEngine, folder_id: int) -> Any:
    async with engine.connect() as conn:
        query = select(folder_states).where(folder_states.c.folder_id == folder_id)
        return (await conn.execute(query)).first()


async def test_an_older_state_never_replaces_a_newer_one(sql_nodes: Nodes) -> None:
    engine = sql_nodes.engine
    assert engine is not None
    old, new = sql_nodes.node(), sql_nodes.node()
    big = await old.create_folder(ALICE, "Big")
    await fill(old, "Big", 20)
    await old.summary(big.id)  # old's entry: 20 messages
    await fill(new, "Big", 5, start=50)
    await new.summary(big.id)
    assert await sql_nodes.save(new) == 1
    newer = await saved(engine, big.id)
    assert newer.messages == 25
    assert await sql_nodes.save(old) == 0  # its state is older: not written
    assert (await saved(engine, big.id)).modseq == newer.modseq


async def test_an_unreadable_state_is_ignored_then_replaced(
    sql_nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sql_nodes.engine
    assert engine is not None
    first = sql_nodes.node()
    big = await first.create_folder(ALICE, "Big")
    await fill(first, "Big", 20)
    await first.summary(big.id)
    await sql_nodes.save(first)
    async with engine.begin() as conn:
        await conn.execute(update(folder_states).values(data=b"not a state"))
    second = sql_nodes.node()
    await assert_real(second, await second.summary(big.id))
    assert await sql_nodes.save(second) == 1  # same MODSEQ, but the saved one is unreadable
    forbid_whole_reads(monkeypatch)
    await assert_real(second, await sql_nodes.node().summary(big.id))


async def test_state_of_a_deleted_folder_goes_with_it(sql_nodes: Nodes) -> None:
    engine = sql_nodes.engine
    assert engine is not None
    first = sql_nodes.node()
    big = await first.create_folder(ALICE, "Big")
    await fill(first, "Big", 20)
    await first.summary(big.id)
    await first.store_flags(big.id, [1], DELETED, FlagMode.ADD)
    await first.expunge(big.id)  # due again, to be saved after ...
    await first.delete_folder(ALICE, "Big")  # ... the folder is gone
    assert await sql_nodes.save(first) == 0
    assert await saved(engine, big.id) is None
    async with engine.connect() as conn:
        assert (
            await conn.execute(select(folders.c.id).where(folders.c.id == big.id))
        ).first() is None


async def test_small_folders_are_not_saved(sql_nodes: Nodes) -> None:
    first = sql_nodes.node()
    small = await first.create_folder(ALICE, "Small")
    await fill(first, "Small", SAVE_MIN - 1)
    await first.summary(small.id)
    assert await sql_nodes.save(first) == 0


async def test_a_saved_state_uses_uids_with_gaps_and_many_flag_sets(sql_nodes: Nodes) -> None:
    first = sql_nodes.node()
    big = await first.create_folder(ALICE, "Big")
    uids = await fill(first, "Big", 60)
    for n, uid in enumerate(uids):
        if n % 4 == 1:
            await first.store_flags(big.id, [uid], frozenset({f"$K{n % 9}"}), FlagMode.ADD)
    await first.store_flags(big.id, uids[7:40:3], DELETED, FlagMode.ADD)
    await first.expunge(big.id)
    await first.summary(big.id)
    assert await sql_nodes.save(first) == 1
    restarted = sql_nodes.node()
    await assert_real(restarted, await restarted.summary(big.id))


# --- \Recent marks across restarts -----------------------------------------------------------


async def test_recent_claims_survive_a_clean_restart(nodes: Nodes) -> None:
    first = nodes.node()
    inbox = await first.get_folder(ALICE, "INBOX")
    assert inbox is not None
    uids = await fill(first, "INBOX", 3)
    assert await first.claim_recent(inbox.id, uids[-1] + 1) == 1
    await nodes.stop(first)  # writes the mark
    again = nodes.node()
    assert await again.claim_recent(inbox.id) == uids[-1] + 1  # none recent any more
    [new] = await fill(again, "INBOX", 1, start=10)
    assert await again.claim_recent(inbox.id, new) == new  # below ``until``: nothing
    assert await again.claim_recent(inbox.id, new + 1) == new  # this session: the new one
    assert await again.claim_recent(inbox.id, new + 1) == new + 1


async def test_recent_claims_in_parallel_are_disjoint(nodes: Nodes) -> None:
    store = nodes.node()
    inbox = await store.get_folder(ALICE, "INBOX")
    assert inbox is not None
    uids = await fill(store, "INBOX", 6)
    ends: list[int] = [uids[1], uids[3], uids[3], uids[-1] + 1, uids[2]]

    def claim(end: int) -> Callable[[], Any]:
        return lambda: store.claim_recent(inbox.id, end)

    firsts = await asyncio.gather(*(claim(end)() for end in ends))
    owned = [set(range(f, e)) for f, e in zip(firsts, ends, strict=True)]
    assert set().union(*owned) == set(range(1, uids[-1] + 1))
    assert sum(map(len, owned)) == uids[-1]  # disjoint
