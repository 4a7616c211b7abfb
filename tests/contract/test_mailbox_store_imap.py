"""What the IMAP server needs from the mailbox store, on every backend (memory, SQLite,
PostgreSQL): folder rename/delete, COPY and MOVE, header sections without bodies,
CONDSTORE changes, SELECT summaries, \\Recent, usage and quota (subscriptions:
``test_mailbox_store_subscriptions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import FileBlobStore, KeyRing
from mailbox_store.errors import (
    FolderExists,
    FolderNotEmpty,
    FolderProtected,
    HasChildren,
    QuotaExceeded,
    UnknownAccount,
    UnknownFolder,
    UnknownMessage,
)
from mailbox_store.interfaces import MailboxStore
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import (
    Change,
    ChangeKind,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    Usage,
)
from mailbox_store.notify import ChangeHub
from mailbox_store.sql import SqlMailboxStore
from mailbox_store.tables import metadata

ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"
NOBODY = "nobody@hopital.mssante.fr"
SEEN = frozenset({"\\Seen"})
DELETED = frozenset({"\\Deleted"})


def message(n: int, subject: str = "Compte rendu") -> bytes:
    return (
        f"From: dr{n}@hopital.mssante.fr\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <{n}@hopital>\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    fixture = "sqlite_engine" if backend == "sqlite" else "pg_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


async def reset_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)


@pytest.fixture
async def store(engine: AsyncEngine | None, tmp_path: Path) -> AsyncIterator[MailboxStore]:
    built: MailboxStore
    if engine is None:
        built = MemoryMailboxStore(ChangeHub())
    else:
        await reset_schema(engine)
        keys = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")
        blobs = FileBlobStore(tmp_path / "blobs", keys, fsync=False)
        built = SqlMailboxStore(engine, blobs, ChangeHub(), keyring=keys)
    await built.create_account(ALICE)
    await built.create_account(BOB)
    yield built
    await built.close()


async def folder(store: MailboxStore, name: str = "INBOX", account: str = ALICE) -> Folder:
    found = await store.get_folder(account, name)
    assert found is not None, name
    return found


async def fill(
    store: MailboxStore, count: int, name: str = "INBOX", account: str = ALICE
) -> list[int]:
    uids = []
    for n in range(count):
        [result] = await store.deliver(message(n), [Delivery(account, name)])
        assert isinstance(result, Delivered), result
        uids.append(result.uid)
    return uids


async def changes(subscription: Any, count: int) -> list[Change]:
    it = aiter(subscription)
    return [await asyncio.wait_for(anext(it), 2) for _ in range(count)]


async def no_more_changes(subscription: Any) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(aiter(subscription)), 0.05)


# --- rename, delete, subscribe (RFC 3501 §6.3.3-6.3.7) -----------------------------------------


async def test_rename_keeps_id_and_uidvalidity_and_renames_children(store: MailboxStore) -> None:
    parent = await store.create_folder(ALICE, "Patients")
    child = await store.create_folder(ALICE, "Patients/Dupont")
    other = await store.create_folder(ALICE, "PatientsX")  # not a child: a longer name
    uids = await fill(store, 2, "Patients/Dupont")
    with store.subscribe(ALICE) as subscription:
        renamed = await store.rename_folder(ALICE, "Patients", "Archives/Patients")
        seen = await changes(subscription, 3)  # "Archives" created, then the two renames
    assert (renamed.id, renamed.uidvalidity, renamed.name) == (
        parent.id,
        parent.uidvalidity,
        "Archives/Patients",
    )
    moved = await folder(store, "Archives/Patients/Dupont")
    assert (moved.id, moved.uidvalidity) == (child.id, child.uidvalidity)
    assert [m.uid for m in await store.list_messages(moved.id)] == uids
    assert await store.get_body(moved.id, uids[0]) == message(0)
    names = {f.name for f in await store.list_folders(ALICE)}
    assert {"Archives", "Archives/Patients", "Archives/Patients/Dupont", "PatientsX"} <= names
    assert not {"Patients", "Patients/Dupont"} & names
    assert await folder(store, "PatientsX") == other
    assert {c.kind for c in seen} == {ChangeKind.FOLDERS}
    assert {parent.id, child.id} <= {c.folder_id for c in seen}


async def test_rename_refusals(store: MailboxStore) -> None:
    await store.create_folder(ALICE, "A")
    await store.create_folder(ALICE, "A/x")
    await store.create_folder(ALICE, "B/x")
    with pytest.raises(UnknownFolder):
        await store.rename_folder(ALICE, "Nope", "Other")
    with pytest.raises(FolderExists):
        await store.rename_folder(ALICE, "A", "Sent")
    with pytest.raises(FolderExists):  # A/x would land on the existing B/x
        await store.rename_folder(ALICE, "A", "B")
    for target in ("INBOX", "inbox", "A/x/y", "", "/lead", "trail/", "a//b", "a*", "a%", "a\r\nb"):
        with pytest.raises(FolderProtected):
            await store.rename_folder(ALICE, "A", target)
    with pytest.raises(UnknownAccount):
        await store.rename_folder(NOBODY, "A", "B")
    assert await store.get_folder(ALICE, "A") is not None
    assert await store.get_folder(ALICE, "B") is None


async def test_rename_inbox_moves_its_messages_and_leaves_it_empty(store: MailboxStore) -> None:
    """RFC 3501 §6.3.5: renaming INBOX moves its messages to a new folder; INBOX stays."""
    before = await folder(store)
    uids = await fill(store, 3)
    await store.store_flags(before.id, [uids[1]], SEEN, FlagMode.ADD)
    usage = await store.usage(ALICE)
    with store.subscribe(ALICE) as subscription:
        created = await store.rename_folder(ALICE, "inbox", "Old/Inbox")
        seen = await changes(subscription, 3)
    after = await folder(store)
    assert (after.id, after.uidvalidity) == (before.id, before.uidvalidity)
    assert await store.list_messages(after.id) == []
    assert created.name == "Old/Inbox"
    assert created.id != before.id
    assert created.uidnext > uids[-1]
    moved = await store.list_messages(created.id)
    assert [m.uid for m in moved] == uids
    assert moved[1].flags == SEEN
    assert await store.get_body(created.id, uids[2]) == message(2)
    assert await store.get_header(created.id, uids[2]) == message(2).split(b"\r\n\r\n")[0] + (
        b"\r\n\r\n"
    )
    assert await store.usage(ALICE) == usage
    expunge = [c for c in seen if c.kind is ChangeKind.EXPUNGE]
    assert [(c.folder_id, c.uids) for c in expunge] == [(before.id, tuple(uids))]
    assert expunge[0].modseq > before.highest_modseq
    assert (await fill(store, 1))[0] > uids[-1]  # INBOX's UIDs are not reused


async def test_delete_folder(store: MailboxStore) -> None:
    doomed = await store.create_folder(ALICE, "Old")
    await fill(store, 2, "Old")
    await fill(store, 1)
    with store.subscribe(ALICE) as subscription:
        await store.delete_folder(ALICE, "Old")
        [change] = await changes(subscription, 1)
    assert (change.kind, change.folder_id) == (ChangeKind.FOLDERS, doomed.id)
    assert await store.get_folder(ALICE, "Old") is None
    with pytest.raises(UnknownFolder):
        await store.list_messages(doomed.id)
    assert (await store.usage(ALICE)).messages == 1
    again = await store.create_folder(ALICE, "Old")
    assert again.id != doomed.id
    assert again.uidvalidity > doomed.uidvalidity  # RFC 3501 §2.3.1.1: never reused


async def test_delete_refusals(store: MailboxStore) -> None:
    await store.create_folder(ALICE, "Parent")
    await store.create_folder(ALICE, "Parent/Child")
    for name in ("INBOX", "Inbox"):
        with pytest.raises(FolderProtected):
            await store.delete_folder(ALICE, name)
    with pytest.raises(HasChildren):
        await store.delete_folder(ALICE, "Parent")
    assert FolderNotEmpty is HasChildren
    with pytest.raises(UnknownFolder):
        await store.delete_folder(ALICE, "Nope")
    with pytest.raises(UnknownAccount):
        await store.delete_folder(NOBODY, "Parent")
    await store.delete_folder(ALICE, "Parent/Child")
    await store.delete_folder(ALICE, "Parent")
    assert await store.get_folder(ALICE, "Parent") is None


async def test_create_folder_refuses_bad_names_and_inbox_in_any_case(store: MailboxStore) -> None:
    for name in ("", "a//b", "/a", "a/", "a*b", "a%b", "a\x00b"):
        with pytest.raises(FolderProtected):
            await store.create_folder(ALICE, name)
    with pytest.raises(FolderExists):
        await store.create_folder(ALICE, "inbox")


# --- COPY and MOVE (RFC 3501 §6.4.7, RFC 4315, RFC 6851) ------------------------------------


async def test_copy_keeps_flags_dates_and_blob_with_new_uids(store: MailboxStore) -> None:
    source = await folder(store)
    when = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    for n in range(4):
        flags = frozenset({"\\Seen", "$Urgent"}) if n == 2 else frozenset()
        await store.deliver(message(n), [Delivery(ALICE, "INBOX", flags)], when + timedelta(n))
    await fill(store, 1, "Trash")  # the destination already has a message
    dest = await folder(store, "Trash")
    with store.subscribe(ALICE) as subscription:
        result = await store.copy_messages(source.id, [4, 3, 999, 1], dest.id)
        [change] = await changes(subscription, 1)
    assert result.uidvalidity == dest.uidvalidity
    assert result.source_uids == (1, 3, 4)
    assert result.dest_uids == (dest.uidnext, dest.uidnext + 1, dest.uidnext + 2)
    originals = {m.uid: m for m in await store.list_messages(source.id)}
    copies = await store.list_messages(dest.id, dest.uidnext)
    for src_uid, copy in zip(result.source_uids, copies, strict=True):
        original = originals[src_uid]
        assert (copy.flags, copy.internal_date, copy.size, copy.blob_id) == (
            original.flags,
            original.internal_date,
            original.size,
            original.blob_id,
        )
        assert copy.modseq > dest.highest_modseq
        assert await store.get_body(dest.id, copy.uid) == await store.get_body(source.id, src_uid)
        assert await store.get_header(dest.id, copy.uid) == await store.get_header(
            source.id, src_uid
        )
    assert copies[1].flags == {"\\Seen", "$Urgent"}
    assert len({c.modseq for c in copies}) == 1
    assert (await folder(store, "Trash")).highest_modseq == copies[0].modseq
    assert (await folder(store, "Trash")).uidnext == dest.uidnext + 3
    assert (change.kind, change.folder_id, change.uids) == (
        ChangeKind.EXISTS,
        dest.id,
        result.dest_uids,
    )
    assert len(originals) == 4  # the source is untouched
    assert (await store.usage(ALICE)).messages == 8


async def test_copy_into_the_same_folder_and_of_nothing(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 2)
    result = await store.copy_messages(inbox.id, uids, inbox.id)
    assert result.dest_uids == (uids[-1] + 1, uids[-1] + 2)
    assert len(await store.list_messages(inbox.id)) == 4
    empty = await store.copy_messages(inbox.id, [404], inbox.id)
    assert (empty.source_uids, empty.dest_uids) == ((), ())
    assert (await folder(store)).uidnext == uids[-1] + 3
    with pytest.raises(UnknownFolder):
        await store.copy_messages(inbox.id, uids, 999_999)
    with pytest.raises(UnknownFolder):
        await store.copy_messages(999_999, uids, inbox.id)


async def test_copy_past_the_quota_copies_nothing(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 3)
    used = await store.usage(ALICE)
    quota = used.bytes + len(message(0)) * 2  # room for two more, not three
    await store.set_quota(ALICE, quota)
    trash = await folder(store, "Trash")
    with pytest.raises(QuotaExceeded):
        await store.copy_messages(inbox.id, uids, trash.id)
    assert await store.list_messages(trash.id) == []
    assert await folder(store, "Trash") == trash
    assert await store.usage(ALICE) == Usage(used.bytes, used.messages, quota)
    assert (await store.copy_messages(inbox.id, uids[:2], inbox.id)).dest_uids


async def test_move_is_copy_then_expunge_in_one_step(store: MailboxStore) -> None:
    inbox, trash = await folder(store), await folder(store, "Trash")
    uids = await fill(store, 4)
    await store.store_flags(inbox.id, [uids[1]], SEEN, FlagMode.ADD)
    usage = await store.usage(ALICE)
    with store.subscribe(ALICE) as subscription:
        result = await store.move_messages(inbox.id, [uids[3], uids[1]], trash.id)
        exists, expunge = await changes(subscription, 2)
        await no_more_changes(subscription)
    assert result.source_uids == (uids[1], uids[3])
    assert result.uidvalidity == trash.uidvalidity
    assert [m.uid for m in await store.list_messages(inbox.id)] == [uids[0], uids[2]]
    moved = await store.list_messages(trash.id)
    assert [m.uid for m in moved] == list(result.dest_uids)
    assert moved[0].flags == SEEN
    assert await store.get_body(trash.id, result.dest_uids[1]) == message(3)
    assert (exists.kind, exists.folder_id, exists.uids) == (
        ChangeKind.EXISTS,
        trash.id,
        result.dest_uids,
    )
    assert (expunge.kind, expunge.folder_id, expunge.uids) == (
        ChangeKind.EXPUNGE,
        inbox.id,
        result.source_uids,
    )
    assert expunge.modseq == (await folder(store)).highest_modseq
    assert await store.usage(ALICE) == usage  # same account: nothing more used


async def test_failed_move_moves_nothing(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 2)
    bob_inbox = await folder(store, account=BOB)
    before = await folder(store)
    await store.set_quota(BOB, 10)
    with pytest.raises(QuotaExceeded):
        await store.move_messages(inbox.id, uids, bob_inbox.id)
    with pytest.raises(UnknownFolder):
        await store.move_messages(inbox.id, uids, 999_999)
    assert [m.uid for m in await store.list_messages(inbox.id)] == uids
    assert await store.list_messages(bob_inbox.id) == []
    assert (await store.usage(BOB)).bytes == 0
    assert (await store.usage(ALICE)).messages == 2
    assert await folder(store) == before
    assert await folder(store, account=BOB) == bob_inbox
    await store.set_quota(BOB, None)
    result = await store.move_messages(inbox.id, uids, bob_inbox.id)
    assert len(result.dest_uids) == 2
    assert (await store.usage(ALICE)).messages == 0
    assert (await store.usage(BOB)).messages == 2


# --- header sections ------------------------------------------------------------------------


async def test_get_header_is_the_header_section(store: MailboxStore) -> None:
    inbox = await folder(store)
    bodies = [
        message(1),
        b"Subject: no body at all\r\nX-A: b\r\n",  # no empty line: the whole message
        b"\r\nno header fields\r\n",
        b"Subject: s\r\n\r\n\r\n\r\nbody with blank lines\r\n",
    ]
    expected = [
        message(1).split(b"\r\n\r\n")[0] + b"\r\n\r\n",
        bodies[1],
        b"\r\n",
        b"Subject: s\r\n\r\n",
    ]
    uids = []
    for body in bodies:
        [result] = await store.deliver(body, [Delivery(ALICE)])
        assert isinstance(result, Delivered)
        uids.append(result.uid)
    for uid, header in zip(uids, expected, strict=True):
        assert await store.get_header(inbox.id, uid) == header
    with pytest.raises(UnknownMessage):
        await store.get_header(inbox.id, 404)
    with pytest.raises(UnknownFolder):
        await store.get_header(999_999, 1)


async def test_iter_headers_in_uid_order_and_batches(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 7)
    await store.store_flags(inbox.id, [uids[2]], DELETED, FlagMode.ADD)
    await store.expunge(inbox.id)
    alive = [u for u in uids if u != uids[2]]
    batches = [batch async for batch in store.iter_headers(inbox.id, batch=4)]
    assert [len(b) for b in batches] == [4, 2]
    flat = [pair for batch in batches for pair in batch]
    assert [uid for uid, _ in flat] == alive
    for uid, header in flat:
        assert header == message(uids.index(uid)).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        assert header.endswith(b"\r\n\r\n")
    some = [b async for b in store.iter_headers(inbox.id, [uids[5], 404, uids[2], uids[0]])]
    assert [[uid for uid, _ in batch] for batch in some] == [[uids[0], uids[5]]]
    assert [b async for b in store.iter_headers(inbox.id, [])] == []
    with pytest.raises(UnknownFolder):
        [b async for b in store.iter_headers(999_999)]


async def test_iter_headers_exact_pages_and_early_stop(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 8)
    sizes = [len(b) async for b in store.iter_headers(inbox.id, batch=4)]
    assert sizes == [4, 4]
    by_list = [len(b) async for b in store.iter_headers(inbox.id, uids, batch=4)]
    assert by_list == [4, 4]
    async with contextlib.aclosing(store.iter_headers(inbox.id, batch=2)) as batches:
        async for batch in batches:
            assert [uid for uid, _ in batch] == uids[:2]
            break  # the caller stops early: nothing left running
    assert len(await store.list_messages(inbox.id)) == 8


async def test_header_search_by_subject_substring(store: MailboxStore) -> None:
    inbox = await folder(store)
    for n in range(5):
        subject = "Résultats labo" if n % 2 else "Compte rendu"
        await store.deliver(message(n, subject), [Delivery(ALICE)])
    hits = [
        uid
        async for batch in store.iter_headers(inbox.id, batch=2)
        for uid, header in batch
        if b"Subject: R\xc3\xa9sultats" in header
    ]
    assert hits == [2, 4]


# --- CONDSTORE, SELECT summary, \Recent -----------------------------------------------------


async def test_changed_since(store: MailboxStore) -> None:
    inbox = await folder(store)
    uids = await fill(store, 4)
    mark = (await folder(store)).highest_modseq
    assert await store.changed_since(inbox.id, mark) == []
    await store.store_flags(inbox.id, [uids[2], uids[0]], SEEN, FlagMode.ADD)
    [new] = await fill(store, 1)
    changed = await store.changed_since(inbox.id, mark)
    assert [m.uid for m in changed] == [uids[0], uids[2], new]
    assert all(m.modseq > mark for m in changed)
    assert [m.uid for m in await store.changed_since(inbox.id, 0)] == [*uids, new]
    with pytest.raises(UnknownFolder):
        await store.changed_since(999_999, 0)


async def test_summary(store: MailboxStore) -> None:
    inbox = await folder(store)
    empty = await store.summary(inbox.id)
    assert (list(empty.uids), empty.unseen, empty.first_unseen_uid, empty.flags_in_use) == (
        [],
        0,
        None,
        frozenset(),
    )
    uids = await fill(store, 5)
    await store.store_flags(inbox.id, uids[:2], SEEN, FlagMode.ADD)
    await store.store_flags(inbox.id, [uids[3]], frozenset({"\\Seen", "$Label1"}), FlagMode.ADD)
    await store.store_flags(inbox.id, [uids[4]], frozenset({"\\Flagged"}), FlagMode.ADD)
    summary = await store.summary(inbox.id)
    assert summary.folder == await folder(store)
    assert list(summary.uids) == uids
    assert summary.unseen == 2
    assert summary.first_unseen_uid == uids[2]
    assert summary.flags_in_use == {"\\Seen", "$Label1", "\\Flagged"}
    with pytest.raises(UnknownFolder):
        await store.summary(999_999)


async def test_claim_recent_only_the_first_session_sees_new_messages(store: MailboxStore) -> None:
    """RFC 3501 §2.3.2: \\Recent is set for one session only."""
    inbox = await folder(store)
    uids = await fill(store, 3)
    assert await store.claim_recent(inbox.id) == 1  # first session: all three are recent
    assert await store.claim_recent(inbox.id) == uids[-1] + 1  # second session: none
    [new] = await fill(store, 1)
    claims = await asyncio.gather(*(store.claim_recent(inbox.id) for _ in range(3)))
    assert sorted(claims) == [new, new + 1, new + 1]
    with pytest.raises(UnknownFolder):
        await store.claim_recent(999_999)


# --- usage and quota (RFC 9208) -------------------------------------------------------------


async def test_usage_follows_every_change(store: MailboxStore) -> None:
    assert await store.usage(ALICE) == Usage(0, 0, None)
    inbox = await folder(store)
    uids = await fill(store, 3)
    size = len(message(0))
    await store.deliver(message(0), [Delivery(ALICE, "Sent"), Delivery(BOB)])
    assert (await store.usage(ALICE)).bytes == 4 * size
    assert (await store.usage(ALICE)).messages == 4
    assert (await store.usage(BOB)).messages == 1
    await store.store_flags(inbox.id, uids[:2], DELETED, FlagMode.ADD)
    await store.expunge(inbox.id)
    usage = await store.usage(ALICE)
    assert (usage.bytes, usage.messages, usage.quota) == (2 * size, 2, None)
    with pytest.raises(UnknownAccount):
        await store.usage(NOBODY)
    with pytest.raises(UnknownAccount):
        await store.set_quota(NOBODY, 1)
    with pytest.raises(ValueError, match="quota"):
        await store.set_quota(ALICE, -1)


async def test_delivery_past_the_quota_fails_for_that_target_only(store: MailboxStore) -> None:
    size = len(message(0))
    await store.set_quota(ALICE, 2 * size)
    await store.create_account(BOB, quota=100 * size)
    assert (await store.usage(BOB)).quota == 100 * size
    for n in range(2):
        results = await store.deliver(message(n), [Delivery(ALICE), Delivery(BOB)])
        assert all(isinstance(r, Delivered) for r in results)
    refused, accepted = await store.deliver(message(2), [Delivery(ALICE), Delivery(BOB)])
    assert isinstance(refused, QuotaExceeded)
    assert not refused.temporary
    assert isinstance(accepted, Delivered)
    assert (await store.usage(ALICE)).messages == 2
    assert (await folder(store)).uidnext == 3  # no UID spent on the refused copy
    assert (await store.usage(BOB)).messages == 3
    await store.create_account(ALICE)  # idempotent: the quota is kept
    assert (await store.usage(ALICE)).quota == 2 * size
    await store.set_quota(ALICE, None)
    assert isinstance((await store.deliver(message(2), [Delivery(ALICE)]))[0], Delivered)
