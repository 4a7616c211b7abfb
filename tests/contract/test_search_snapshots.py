"""Saved SEARCH index columns (``mailbox_store.search_snapshots``, ``mss.imap.search_persist``)
on every backend: saved and loaded back, never older, sealed (no header text in clear in the
database, a tampered or moved row is ignored), gone with their folder, and a cold index built
from them reads only the headers of the messages above the saved ``max_uid`` (issue 3)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import KeyRing
from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered, Delivery, FlagMode, Folder, SearchSnapshot
from mailbox_store.search_snapshots import SqlSearchSnapshots
from mailbox_store.tables import search_snapshots
from mss.imap import search_index as si
from mss.imap import search_persist
from mss.imap.search_text import fold
from mss.imap.searching import _bring_up_to_date, _restore
from tests.conftest import fresh_mailbox_store, spy_header_reads

ALICE = "alice@hopital.mssante.fr"
SECRET = "Diabete type 2 suivi"


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    built = await fresh_mailbox_store(engine, tmp_path / "blobs")
    await built.create_account(ALICE)
    yield built
    await built.close()


def mail(n: int) -> bytes:
    return (
        f"From: dr{n % 3}@chu.fr\r\nSubject: {SECRET} {n}\r\n"
        f"Date: {1 + n % 28} Jan 2024 10:00:00 +0100\r\n\r\nbody {n}\r\n"
    ).encode()


async def fill(store: MailboxStore, numbers: Sequence[int]) -> tuple[Folder, list[int]]:
    folder = await store.get_folder(ALICE, "INBOX")
    assert folder is not None
    uids = []
    for n in numbers:
        [result] = await store.deliver(mail(n), [Delivery(ALICE)])
        assert isinstance(result, Delivered), result
        uids.append(result.uid)
    return folder, uids


def snapshot(field: str, folder: Folder, max_uid: int, text: str = "x") -> SearchSnapshot:
    return SearchSnapshot(field, folder.uidvalidity, max_uid, text.encode() * 10)


async def test_saved_then_loaded_never_older(store: MailboxStore) -> None:
    folder, _ = await fill(store, [1])
    assert await store.load_search_snapshots(folder.id, folder.uidvalidity, ["subject"]) == {}
    assert await store.save_search_snapshot(folder.id, snapshot("subject", folder, 5, "a"))
    assert await store.save_search_snapshot(folder.id, snapshot("from", folder, 5, "b"))
    assert not await store.save_search_snapshot(folder.id, snapshot("subject", folder, 4, "c"))
    assert await store.save_search_snapshot(folder.id, snapshot("subject", folder, 9, "d"))
    got = await store.load_search_snapshots(folder.id, folder.uidvalidity, ["subject", "to"])
    assert got == {"subject": snapshot("subject", folder, 9, "d")}
    assert await store.load_search_snapshots(folder.id, folder.uidvalidity + 1, ["subject"]) == {}
    assert await store.load_search_snapshots(folder.id + 99, folder.uidvalidity, ["from"]) == {}


async def test_gone_with_the_folder(store: MailboxStore) -> None:
    folder = await store.create_folder(ALICE, "Old")
    assert await store.save_search_snapshot(folder.id, snapshot("subject", folder, 3))
    await store.delete_folder(ALICE, "Old")
    assert await store.load_search_snapshots(folder.id, folder.uidvalidity, ["subject"]) == {}
    assert not await store.save_search_snapshot(folder.id, snapshot("subject", folder, 4))


async def test_sealed_at_rest_and_tamper_ignored(
    store: MailboxStore, engine: AsyncEngine | None
) -> None:
    """SEC-IN-3 spirit: header text is health data, never in clear on disk."""
    if engine is None:
        pytest.skip("the memory store keeps nothing on disk")
    folder, _ = await fill(store, [1])
    text = f"\x01{SECRET.lower()} {'z' * 40}"
    assert await store.save_search_snapshot(folder.id, snapshot("subject", folder, 7, text))
    async with engine.connect() as conn:
        [content] = (await conn.execute(select(search_snapshots.c.content))).scalars()
    assert SECRET.lower().encode() not in content
    assert content.startswith(b"MSB")  # the blob format: key id inside
    async with engine.begin() as conn:  # moved to another max_uid: the binding fails
        await conn.execute(update(search_snapshots).values(max_uid=8))
    assert await store.load_search_snapshots(folder.id, folder.uidvalidity, ["subject"]) == {}


async def test_cold_index_from_saved_columns(
    store: MailboxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, uids = await fill(store, range(12))
    wanted = frozenset({"subject", si.DATE})
    warm = si.FolderIndex(folder.uidvalidity)
    await _bring_up_to_date(store, folder.id, warm, wanted, uids)
    monkeypatch.setattr(search_persist, "SAVE_MIN", 1)
    search_persist.save_soon(store, folder, warm, uids)
    await search_persist.drain()
    assert not search_persist.due(warm)
    # Later: one message expunged, two delivered, and a node starts with no index.
    await store.store_flags(folder.id, [uids[4]], frozenset({"\\Deleted"}), FlagMode.ADD)
    await store.expunge(folder.id)
    _, more = await fill(store, [12, 13])
    live = [u for u in [*uids, *more] if u != uids[4]]
    read = spy_header_reads(store, monkeypatch)
    cold = si.FolderIndex(folder.uidvalidity)
    await _restore(store, folder, cold, wanted)
    await _bring_up_to_date(store, folder.id, cold, wanted, live)
    assert read == more  # the saved columns: no header read up to their max_uid
    assert cold.built() == wanted
    assert cold.saved == {"subject": 12, si.DATE: 12}
    needle = fold(f"{SECRET} 1")
    hits = {uids[1], uids[10], uids[11], more[0], more[1]}
    assert cold.matching("subject", needle) & set(live) == hits
    assert cold.matching("subject", fold(f"{SECRET} 4")) & set(live) == set()
    assert cold.sent_days()[more[1]] == cold.sent_days()[uids[0]] + 13


async def test_behind_column_caught_up_from_headers(
    store: MailboxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, uids = await fill(store, range(6))
    early = si.FolderIndex(folder.uidvalidity)
    await _bring_up_to_date(store, folder.id, early, frozenset({"from"}), uids)
    monkeypatch.setattr(search_persist, "SAVE_MIN", 1)
    search_persist.save_soon(store, folder, early, uids)
    await search_persist.drain()
    _, more = await fill(store, range(6, 9))
    late = si.FolderIndex(folder.uidvalidity)
    await _bring_up_to_date(store, folder.id, late, frozenset({"subject"}), [*uids, *more])
    read = spy_header_reads(store, monkeypatch)
    await _restore(store, folder, late, frozenset({"from", "subject"}))
    assert read == more  # "from" was saved at uids[-1]: only the three above it
    assert late.matching("from", "dr0@") == {uids[0], uids[3], more[0]}


async def test_readable_after_a_key_rotation(
    store: MailboxStore, engine: AsyncEngine | None
) -> None:
    if engine is None:
        pytest.skip("the memory store seals nothing")
    folder, _ = await fill(store, [1])
    old = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")
    saved = snapshot("subject", folder, 3, "avant rotation")
    assert await SqlSearchSnapshots(engine, old).save(folder.id, saved)
    rotated = KeyRing({**old.keys, "k2": secrets.token_bytes(32)}, active_key="k2")
    got = await SqlSearchSnapshots(engine, rotated).load(folder.id, folder.uidvalidity, ["subject"])
    assert got == {"subject": saved}
    other = KeyRing({"k2": rotated.keys["k2"]}, active_key="k2")  # k1 forgotten: unreadable
    assert (
        await SqlSearchSnapshots(engine, other).load(folder.id, folder.uidvalidity, ["subject"])
        == {}
    )
