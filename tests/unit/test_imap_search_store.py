"""What SEARCH reads from the mailbox store, on every backend (memory, SQLite, PostgreSQL):
bodies in batches (``iter_bodies``, inline and file blobs), and the folder index brought up to
date from header sections (new messages, a column added after an expunge)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered, Delivery, FlagMode, Folder
from mss.imap import search_index as si
from mss.imap.searching import _bring_up_to_date
from tests.conftest import fresh_mailbox_store

ALICE = "alice@hopital.mssante.fr"


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    built = await fresh_mailbox_store(engine, tmp_path / "blobs")
    await built.create_account(ALICE)
    yield built
    await built.close()


async def fill(store: MailboxStore, bodies: list[bytes]) -> tuple[Folder, list[int]]:
    folder = await store.get_folder(ALICE, "INBOX")
    assert folder is not None
    uids = []
    for body in bodies:
        [result] = await store.deliver(body, [Delivery(ALICE)])
        assert isinstance(result, Delivered), result
        uids.append(result.uid)
    return folder, uids


def mail(n: int, size: int = 10) -> bytes:
    return f"From: dr{n % 3}@chu.fr\r\nSubject: s{n}\r\n\r\n{'x' * size}{n}\r\n".encode()


async def test_iter_bodies_in_batches_inline_and_files(store: MailboxStore) -> None:
    bodies = [mail(n, size=10 if n % 2 else 10_000) for n in range(7)]  # big ones: blob files
    folder, uids = await fill(store, bodies)
    wanted = [uids[5], uids[0], uids[3], 99_999, uids[3]]
    got = [pair async for batch in store.iter_bodies(folder.id, wanted, batch=2) for pair in batch]
    assert got == [(uids[0], bodies[0]), (uids[3], bodies[3]), (uids[5], bodies[5])]
    sizes = [len(batch) async for batch in store.iter_bodies(folder.id, uids, batch=3)]
    assert sizes == [3, 3, 1]
    assert [b async for b in store.iter_bodies(folder.id, [], batch=3)] == []
    with pytest.raises(ValueError, match="batch"):
        await anext(store.iter_bodies(folder.id, uids, batch=0))


async def test_index_follows_the_store(store: MailboxStore) -> None:
    folder, uids = await fill(store, [mail(n) for n in range(10)])
    index = si.FolderIndex(folder.uidvalidity)
    await _bring_up_to_date(store, folder.id, index, frozenset({"from"}), uids)
    assert index.matching("from", "dr1@") == {uids[n] for n in (1, 4, 7)}
    assert index.built() == {"from"}
    await store.store_flags(folder.id, [uids[4]], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(folder.id)
    _, more = await fill(store, [mail(10), mail(11)])
    live = [u for u in [*uids, *more] if u != uids[4]]
    await _bring_up_to_date(store, folder.id, index, frozenset({"subject", si.DATE}), live)
    assert index.built() == {"from", "subject", si.DATE}
    assert index.matching("subject", "s1") == {uids[1], more[0], more[1]}  # s1, s10, s11
    assert index.matching("subject", "s4") == set()  # expunged before its column was made
    assert index.matching("from", "dr1@") == {uids[n] for n in (1, 4, 7)} | {more[0]}
    assert index.sent_days() == {}  # no Date: fields
    await _bring_up_to_date(store, folder.id, index, frozenset({"subject"}), live)  # no read
    assert len(index.uids) == 12
