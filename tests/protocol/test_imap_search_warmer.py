"""Over real sockets (issue 3): a folder filled by APPEND and never searched, the background
indexer (``mss.imap.search_warmer``) run once, then the first header ``UID SEARCH`` reads no
header section: counted (sections read by the store), not timed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

import pytest

from mss.imap import search_persist, searching
from mss.imap.search_warmer import SearchWarmer
from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_imaplib import fresh_folder, login


async def _named(name: str) -> bool:
    return any(task.get_name() == name for task in asyncio.all_tasks())


def test_first_search_after_background_indexing_reads_no_header(
    running: RunningOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searching, "INDEX_MIN", 0)
    monkeypatch.setattr(search_persist, "SAVE_MIN", 10)
    client = login(running, "PER", rpps="10001234567")
    folder = fresh_folder(client, "W")
    for n in range(40):
        subject = "Bilan" if n % 4 == 0 else "Suivi"
        body = f"From: dr{n % 3}@chu.fr\r\nSubject: {subject} {n}\r\n\r\ncorps\r\n".encode()
        assert client.append(folder, "", None, body)[0] == "OK"
    store = running.operator.store
    # The operator's own indexer runs (here its passes are an hour apart): one pass now.
    assert running.call(_named("search-warmer"))
    running.call(SearchWarmer(store, running.settings.imap).run_once())
    running.call(search_persist.drain())
    found = running.call(
        store.get_folder(running.account("PER", rpps="10001234567")["address"], folder)
    )
    assert found is not None
    saved = running.call(store.load_search_snapshots(found.id, found.uidvalidity, ["subject"]))
    assert saved["subject"].max_uid == found.uidnext - 1
    read: list[int] = []
    original = store.iter_headers

    async def spying(
        folder_id: int, wanted: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        async for part in original(folder_id, wanted, batch):
            read.extend(uid for uid, _ in part)
            yield part

    monkeypatch.setattr(store, "iter_headers", spying)
    assert client.select(folder)[0] == "OK"
    typ, data = client.uid("SEARCH", "SUBJECT", "bilan")
    assert typ == "OK", data
    assert len((data[0] or b"").split()) == 10
    typ, data = client.uid("SEARCH", "OR", "FROM", "dr1@", "HEADER", "Message-ID", "x")
    assert typ == "OK", data
    assert len((data[0] or b"").split()) == 13
    assert read == []  # the columns built ahead: no header section opened by the searches
    client.logout()
