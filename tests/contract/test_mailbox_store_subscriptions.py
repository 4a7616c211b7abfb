"""IMAP subscriptions as names (RFC 3501 §6.3.6, RFC 9051 §6.3.7-6.3.8) on every backend
(memory, SQLite, PostgreSQL), and migration 0012 that copies the old per-folder flags.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.errors import FolderProtected, UnknownAccount
from mailbox_store.interfaces import MailboxStore
from mailbox_store.tables import folders, subscriptions
from mss.schema import METADATA, alembic_config, upgrade
from tests.contract import test_mailbox_store_imap as imap_contract
from tests.contract.test_mailbox_store_imap import ALICE, BOB, NOBODY

# The same store on every backend as the IMAP contract suite (memory, SQLite, PostgreSQL).
engine = imap_contract.engine
store = imap_contract.store

DEFAULTS = ["Drafts", "INBOX", "Junk", "Sent", "Trash"]


async def test_default_folders_start_subscribed_once(store: MailboxStore) -> None:
    assert await store.subscriptions(ALICE) == DEFAULTS
    await store.remove_subscription(ALICE, "Junk")
    await store.create_account(ALICE)  # idempotent: does not subscribe Junk again
    assert await store.subscriptions(ALICE) == ["Drafts", "INBOX", "Sent", "Trash"]


async def test_a_name_without_a_folder_can_be_subscribed(store: MailboxStore) -> None:
    await store.add_subscription(ALICE, "Projets/2026")
    await store.add_subscription(ALICE, "Projets/2026")  # twice: not an error
    assert "Projets/2026" in await store.subscriptions(ALICE)
    assert await store.get_folder(ALICE, "Projets/2026") is None  # no folder was created
    assert "Projets/2026" not in await store.subscriptions(BOB)  # per account


async def test_unsubscribing_a_name_not_subscribed_is_not_an_error(store: MailboxStore) -> None:
    await store.remove_subscription(ALICE, "Nope")  # RFC 9051 §6.3.8
    await store.remove_subscription(ALICE, "Sent")
    await store.remove_subscription(ALICE, "Sent")
    assert "Sent" not in await store.subscriptions(ALICE)


async def test_inbox_in_any_case_is_one_name(store: MailboxStore) -> None:
    await store.remove_subscription(ALICE, "inbox")
    assert "INBOX" not in await store.subscriptions(ALICE)
    await store.add_subscription(ALICE, "InBoX")
    await store.add_subscription(ALICE, "Inbox/Child")  # only INBOX itself is case-insensitive
    names = await store.subscriptions(ALICE)
    assert names.count("INBOX") == 1
    assert "Inbox/Child" in names


async def test_folder_changes_leave_subscriptions_alone(store: MailboxStore) -> None:
    await store.create_folder(ALICE, "Old")
    await store.create_folder(ALICE, "Old/Child")
    assert "Old/Child" not in await store.subscriptions(ALICE)  # CREATE does not subscribe
    await store.add_subscription(ALICE, "Old/Child")
    await store.rename_folder(ALICE, "Old", "New")  # RFC 9051 §6.3.6: not renamed
    names = await store.subscriptions(ALICE)
    assert "Old/Child" in names
    assert "New/Child" not in names
    await store.add_subscription(ALICE, "New/Child")
    await store.delete_folder(ALICE, "New/Child")  # RFC 9051 §6.3.7: not removed
    assert "New/Child" in await store.subscriptions(ALICE)


async def test_bad_names_and_unknown_accounts(store: MailboxStore) -> None:
    for name in ("", "a//b", "/a", "a/", "a*b", "a%b", "a\x00b", "x" * 256):
        with pytest.raises(FolderProtected):
            await store.add_subscription(ALICE, name)
    assert await store.subscriptions(ALICE) == DEFAULTS  # nothing was kept
    with pytest.raises(UnknownAccount):
        await store.add_subscription(NOBODY, "A")
    with pytest.raises(UnknownAccount):
        await store.remove_subscription(NOBODY, "A")
    with pytest.raises(UnknownAccount):
        await store.subscriptions(NOBODY)


async def test_names_sort_by_code_point(store: MailboxStore) -> None:
    for name in ("b", "B", "é", "a/b", "Z"):
        await store.add_subscription(BOB, name)
    names = await store.subscriptions(BOB)
    assert names == sorted(names)  # the same order on every backend, whatever the collation


async def test_subscriptions_go_with_the_account(sql_engine: AsyncEngine) -> None:
    await _fresh(sql_engine)
    await upgrade(sql_engine)
    now = datetime.now(UTC)
    async with sql_engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO mbx_accounts (name, created_at) VALUES (:n, :t)"),
            {"n": ALICE, "t": now},
        )
        await conn.execute(subscriptions.insert().values(account=ALICE, name="A"))
        await conn.execute(text("DELETE FROM mbx_accounts WHERE name = :n"), {"n": ALICE})
        left = await conn.execute(select(subscriptions.c.name))
        # On SQLite too: the engine turns foreign keys on.
        assert list(left) == []


async def test_migration_0012_copies_the_subscribed_folders(sql_engine: AsyncEngine) -> None:
    await _fresh(sql_engine)
    await upgrade(sql_engine, "0011")
    now = datetime.now(UTC)
    async with sql_engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO mbx_accounts (name, created_at) VALUES (:n, :t)"),
            [{"n": ALICE, "t": now}, {"n": BOB, "t": now}],
        )
        rows = [
            (1, ALICE, "INBOX", True),
            (2, ALICE, "Sent", False),
            (3, ALICE, "Projets/2026", True),
            (4, BOB, "INBOX", False),
        ]
        await conn.execute(
            text(
                "INSERT INTO mbx_folders (id, account, name, uidvalidity, uidnext, "
                "highest_modseq, subscribed) VALUES (:i, :a, :n, 1, 1, 1, :s)"
            ),
            [{"i": i, "a": a, "n": n, "s": s} for i, a, n, s in rows],
        )
    await upgrade(sql_engine, "0012")
    async with sql_engine.connect() as conn:
        found = await conn.execute(select(subscriptions.c.account, subscriptions.c.name))
        assert sorted(tuple(r) for r in found) == [(ALICE, "INBOX"), (ALICE, "Projets/2026")]
    async with sql_engine.begin() as conn:  # a name without a folder, then back to 0011
        await conn.execute(subscriptions.insert().values(account=BOB, name="INBOX"))
        await conn.execute(subscriptions.delete().where(subscriptions.c.name == "Projets/2026"))
        await conn.run_sync(_downgrade, "0011")
    async with sql_engine.connect() as conn:
        flags = await conn.execute(select(folders.c.id, folders.c.subscribed))
        assert sorted((i, bool(s)) for i, s in flags) == [
            (1, True),
            (2, False),
            (3, False),
            (4, True),
        ]
    await upgrade(sql_engine)  # and up again: the flags are copied once more
    async with sql_engine.connect() as conn:
        found = await conn.execute(select(subscriptions.c.account, subscriptions.c.name))
        assert sorted(tuple(r) for r in found) == [(ALICE, "INBOX"), (BOB, "INBOX")]


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(connection), revision)


async def _fresh(database: AsyncEngine) -> None:
    async with database.begin() as conn:
        for meta in METADATA:
            await conn.run_sync(meta.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
