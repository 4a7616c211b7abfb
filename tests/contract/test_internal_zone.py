"""The zone of an internal date (RFC 3501 §2.3.3) is kept on every backend: stored in UTC with
its offset beside it (``mbx_messages.internal_zone``) and given back in that zone by every read
(lists, changes, STORE results) and through COPY and MOVE, so that FETCH INTERNALDATE shows the
date as it was given and BEFORE/ON/SINCE compare its own day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered, Delivery, FlagMode, MessageRecord
from tests.conftest import fresh_mailbox_store

ALICE = "alice@hopital.mssante.fr"
NEW_YORK = timezone(-timedelta(hours=5))
KOLKATA = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    built = await fresh_mailbox_store(engine, tmp_path / "blobs")
    await built.create_account(ALICE)
    await built.create_folder(ALICE, "Copies")
    yield built
    await built.close()


async def test_zone_kept_by_reads_copy_and_move(store: MailboxStore) -> None:
    given = [
        datetime(2024, 1, 1, 23, 0, tzinfo=NEW_YORK),  # 2 January in UTC
        datetime(2024, 1, 2, 3, 0, tzinfo=KOLKATA),  # 1 January in UTC
        datetime(2024, 1, 2, 12, 0, tzinfo=UTC),
    ]
    uids = []
    for n, when in enumerate(given):
        [done] = await store.deliver(f"Subject: {n}\r\n\r\nx".encode(), [Delivery(ALICE)], when)
        assert isinstance(done, Delivered)
        uids.append(done.uid)
    inbox, copies = await store.get_folder(ALICE, "INBOX"), await store.get_folder(ALICE, "Copies")
    assert inbox is not None
    assert copies is not None

    def shown(records: list[MessageRecord]) -> list[tuple[date, timedelta | None]]:
        return [(r.internal_date.date(), r.internal_date.utcoffset()) for r in records]

    expected = [(date(2024, 1, 1), -timedelta(hours=5)), (date(2024, 1, 2), timedelta(hours=5.5))]
    expected.append((date(2024, 1, 2), timedelta(0)))
    records = await store.list_messages(inbox.id)
    assert [r.internal_date for r in records] == given
    assert shown(records) == expected
    assert shown(await store.changed_since(inbox.id, 0)) == expected
    stored = await store.store_flags(inbox.id, uids, frozenset({"\\Seen"}), FlagMode.ADD)
    assert shown(stored) == expected
    await store.copy_messages(inbox.id, uids[:2], copies.id)
    assert shown(await store.list_messages(copies.id)) == expected[:2]
    await store.move_messages(copies.id, [uids[0]], inbox.id)
    assert shown(await store.list_messages(inbox.id)) == [*expected, expected[0]]
