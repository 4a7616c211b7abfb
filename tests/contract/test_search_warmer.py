"""The background SEARCH indexer (``mss.imap.search_warmer``, issue 3) on every backend: it finds
the folders whose columns lag (``MailboxStore.search_snapshot_lag``), builds and saves them so
that the first header search of a folder never searched reads no header; it then reads only the
new messages, saves when the folder stops growing, leaves a folder another node claimed
(``claim_search_build``: a PostgreSQL advisory lock), and a search arriving during a build joins
it instead of reading the headers a second time. Counted (header sections read), not timed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from config import ImapSettings
from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered, Delivery, Folder
from mss.imap import search_index as si
from mss.imap import search_persist
from mss.imap.search_text import fold
from mss.imap.search_warmer import WARM_FIELDS, SearchWarmer
from mss.imap.searching import _bring_up_to_date, _restore
from tests.conftest import fresh_mailbox_store, spy_header_reads

ALICE = "alice@hopital.mssante.fr"


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    built = await fresh_mailbox_store(engine, tmp_path / "blobs")
    await built.create_account(ALICE)
    yield built
    await search_persist.drain()
    await built.close()


@pytest.fixture(autouse=True)
def small_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_persist, "SAVE_MIN", 10)  # folders of tens of messages count


def mail(n: int) -> bytes:
    return (
        f"From: dr{n % 3}@chu.fr\r\nTo: <{ALICE}>\r\nCc: secretariat{n % 2}@chu.fr\r\n"
        f"Subject: {'Bilan' if n % 5 == 0 else 'Suivi'} {n}\r\n"
        f"Message-ID: <{n}@chu.fr>\r\n\r\nbody {n}\r\n"
    ).encode()


async def fill(store: MailboxStore, numbers: Sequence[int], name: str = "INBOX") -> list[int]:
    uids = []
    for n in numbers:
        [result] = await store.deliver(mail(n), [Delivery(ALICE, name)])
        assert isinstance(result, Delivered), result
        uids.append(result.uid)
    return uids


async def folder_of(store: MailboxStore, name: str = "INBOX") -> Folder:
    folder = await store.get_folder(ALICE, name)
    assert folder is not None
    return folder


async def searched(
    store: MailboxStore, folder: Folder, uids: Sequence[int], wanted: frozenset[str]
) -> si.FolderIndex:
    """What a header SEARCH does with the folder's index (``searching._index_for``)."""
    index = si.cache_of(store, ImapSettings().search_index_bytes).get(
        folder.account, folder.id, folder.uidvalidity
    )
    async with index.lock:
        await _restore(store, folder, index, wanted)
        await _bring_up_to_date(store, folder.id, index, wanted, uids)
    return index


@pytest.fixture
def warmer(store: MailboxStore) -> SearchWarmer:
    si._CACHES.pop(store, None)
    return SearchWarmer(store, ImapSettings())


async def test_lag_lists_big_folders_with_their_saved_columns(
    store: MailboxStore, warmer: SearchWarmer
) -> None:
    await store.create_folder(ALICE, "Small")
    await fill(store, range(3), "Small")
    uids = await fill(store, range(30))
    inbox = await folder_of(store)
    assert [(f.id, saved) for f, saved in await store.search_snapshot_lag(WARM_FIELDS, 10)] == [
        (inbox.id, {})
    ]
    assert await warmer.run_once() == 1
    lag = await store.search_snapshot_lag(WARM_FIELDS, 10)
    assert [(f.id, saved) for f, saved in lag] == [(inbox.id, dict.fromkeys(WARM_FIELDS, uids[-1]))]
    assert await store.search_snapshot_lag(["subject"], 40) == []  # uidnext 31: not above 40


async def test_first_search_after_warming_reads_no_header(
    store: MailboxStore, warmer: SearchWarmer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = await fill(store, range(40))
    assert await warmer.run_once() == 1
    assert warmer.stats.headers == 40
    assert warmer.stats.saves == len(WARM_FIELDS)
    folder = await folder_of(store)
    read = spy_header_reads(store, monkeypatch)
    index = await searched(store, folder, uids, frozenset({"subject", "from", "message-id"}))
    assert read == []  # built ahead: the search reads no header section
    assert index.matching("subject", fold("bilan")) == set(uids[::5])
    assert "cc" not in index.built()  # not among the columns built ahead
    assert index.matching("message-id", "<7@chu.fr>") == {uids[7]}
    # A node that starts (no index in memory) loads the saved columns: still no header read.
    si._CACHES.pop(store, None)
    cold = await searched(store, folder, uids, frozenset({"to", "subject"}))
    assert read == []
    assert cold.matching("to", ALICE) == set(uids)
    # Nothing new: the next passes do nothing.
    assert await warmer.run_once() == 0
    assert warmer.stats.headers == 40


async def test_new_messages_read_alone_and_saved_once_quiet(
    store: MailboxStore, warmer: SearchWarmer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = await fill(store, range(200))
    assert await warmer.run_once() == 1
    saves = warmer.stats.saves
    more = await fill(store, range(200, 220))  # 20: more than 5 % of the folder
    read = spy_header_reads(store, monkeypatch)
    assert await warmer.run_once() == 1
    assert read == more  # only the new messages
    assert warmer.stats.saves == saves  # still growing: not saved yet
    assert await warmer.run_once() == 1  # quiet: saved, without reading anything
    assert read == more
    assert warmer.stats.saves == saves + len(WARM_FIELDS)
    folder = await folder_of(store)
    [(_, saved)] = await store.search_snapshot_lag(WARM_FIELDS, 10)
    assert saved == dict.fromkeys(WARM_FIELDS, more[-1])
    assert await warmer.run_once() == 0
    si._CACHES.pop(store, None)
    index = await searched(store, folder, [*uids, *more], frozenset({"subject"}))
    assert read == more
    assert index.matching("subject", "bilan 215") == {more[15]}


async def test_search_during_a_build_joins_it(
    store: MailboxStore, warmer: SearchWarmer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = await fill(store, range(60))
    folder = await folder_of(store)
    read = spy_header_reads(store, monkeypatch)
    building = asyncio.create_task(warmer.warm(folder))
    await asyncio.sleep(0)  # the build holds the folder index's lock
    index = await searched(store, folder, uids, frozenset({"from"}))
    await building
    assert sorted(read) == uids  # one read of the folder, by the build
    assert index.matching("from", "dr2@") == set(uids[2::3])


async def test_search_built_columns_kept_and_other_column_added(
    store: MailboxStore, warmer: SearchWarmer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = await fill(store, range(30))
    folder = await folder_of(store)
    await searched(store, folder, uids, frozenset({"reply-to", si.DATE}))
    assert await warmer.run_once() == 1
    index = await searched(store, folder, uids, frozenset({"subject"}))
    assert index.built() == WARM_FIELDS | {"reply-to", si.DATE}
    assert index.matching("reply-to", "") == set()
    assert index.matching("subject", fold("SUIVI 29")) == {uids[29]}


async def test_folder_claimed_by_another_node_is_left(
    store: MailboxStore, warmer: SearchWarmer, backend: str
) -> None:
    await fill(store, range(20))
    folder = await folder_of(store)
    async with store.claim_search_build(folder.id) as mine:
        assert mine
        if backend == "postgres":  # another node's claim (its own transaction) fails
            async with store.claim_search_build(folder.id) as other:
                assert not other
            assert await warmer.run_once() == 0
            assert warmer.stats.skipped_claimed == 1
    assert await warmer.run_once() == 1  # released with the transaction
    assert warmer.stats.headers == 20


async def test_node_start_completes_saved_columns_reading_only_newer_headers(
    store: MailboxStore, warmer: SearchWarmer, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = await fill(store, range(100))
    assert await warmer.run_once() == 1
    more = await fill(store, range(100, 130))
    si._CACHES.pop(store, None)  # a node that starts: saved columns behind by 30 messages
    starting = SearchWarmer(store, ImapSettings())
    read = spy_header_reads(store, monkeypatch)
    assert await starting.run_once() == 1
    assert read == more  # the saved columns loaded, only the headers above them read
    folder = await folder_of(store)
    index = await searched(store, folder, [*uids, *more], frozenset({"subject", "to"}))
    assert read == more
    assert index.matching("subject", "bilan 1") == {uids[10], uids[15], *more[::5]}
    assert len(index.matching("to", ALICE)) == 130


async def test_runs_in_the_background_until_cancelled(store: MailboxStore) -> None:
    si._CACHES.pop(store, None)
    warmer = SearchWarmer(store, ImapSettings(search_index_warm_interval=0.01))
    uids = await fill(store, range(30))
    task = asyncio.create_task(warmer.run())
    done = dict.fromkeys(WARM_FIELDS, uids[-1])
    for _ in range(500):
        [(_, saved)] = await store.search_snapshot_lag(WARM_FIELDS, 10)
        if saved == done:
            break
        await asyncio.sleep(0.01)
    assert saved == done
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert warmer.stats.passes >= 1
