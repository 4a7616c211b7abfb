"""Folder changes of the SQL store: RENAME, DELETE (RFC 3501 §6.3.4-6.3.5); subscriptions are
names, apart (``sql_subscriptions``).

Each function runs inside the caller's write transaction, after the account row is locked (so
folder-tree changes of one account are serialised), and returns the changes to publish once the
transaction is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.errors import FolderExists, FolderProtected, HasChildren, UnknownFolder
from mailbox_store.logic import (
    INBOX,
    check_folder_name,
    is_child,
    is_inbox,
    renamed,
    superiors,
)
from mailbox_store.models import Change, ChangeKind, Folder
from mailbox_store.sql_rows import bump_folder, charge, folder_by_id, insert_folder, lock_account
from mailbox_store.tables import folders, headers, messages


async def rename(
    conn: AsyncConnection, account: str, old: str, new: str
) -> tuple[Folder, list[Change]]:
    check_folder_name(new)
    if is_inbox(new):
        raise FolderProtected("cannot rename a folder to INBOX")
    await lock_account(conn, account)
    ids = await _folder_ids(conn, account)
    if old not in ids:
        raise UnknownFolder(f"{account}: {old}")
    if new in ids:
        raise FolderExists(f"{account}: {new}")
    if is_child(new, old):
        raise FolderProtected("cannot rename a folder into itself")
    if old == INBOX:
        return await _rename_inbox(conn, account, ids[INBOX], new)
    moving = [name for name in ids if name == old or is_child(name, old)]
    for name in moving:
        if renamed(name, old, new) in ids:
            raise FolderExists(f"{account}: {renamed(name, old, new)}")
    created = await _add_superiors(conn, account, new, ids)
    for name in moving:
        await conn.execute(
            update(folders).where(folders.c.id == ids[name]).values(name=renamed(name, old, new))
        )
    changes = [Change(account, i, ChangeKind.FOLDERS) for i in created + [ids[n] for n in moving]]
    return await folder_by_id(conn, ids[old]), changes


async def delete_folder(conn: AsyncConnection, account: str, name: str) -> list[Change]:
    if name == INBOX:
        raise FolderProtected("INBOX cannot be deleted")
    await lock_account(conn, account)
    ids = await _folder_ids(conn, account)
    if name not in ids:
        raise UnknownFolder(f"{account}: {name}")
    if any(is_child(other, name) for other in ids):
        raise HasChildren(f"{account}: {name}")
    folder_id = ids[name]
    totals = select(func.coalesce(func.sum(messages.c.size), 0), func.count()).where(
        messages.c.folder_id == folder_id
    )
    size, count = (await conn.execute(totals)).one()
    for table in (headers, messages):
        await conn.execute(delete(table).where(table.c.folder_id == folder_id))
    await conn.execute(delete(folders).where(folders.c.id == folder_id))
    await charge(conn, account, -int(size), -int(count))
    return [Change(account, folder_id, ChangeKind.FOLDERS)]


async def _folder_ids(conn: AsyncConnection, account: str) -> dict[str, int]:
    rows = await conn.execute(
        select(folders.c.name, folders.c.id).where(folders.c.account == account)
    )
    return {row.name: row.id for row in rows}


async def _add_superiors(
    conn: AsyncConnection, account: str, name: str, ids: dict[str, int]
) -> list[int]:
    """Create the missing superior folders of ``name`` (RFC 3501 §6.3.5); their ids."""
    created = []
    now = datetime.now(UTC)
    for superior in superiors(name):
        if superior not in ids:
            folder_id = await insert_folder(conn, account, superior, None, now)
            if folder_id is not None:
                created.append(folder_id)
    return created


async def _rename_inbox(
    conn: AsyncConnection, account: str, inbox_id: int, new: str
) -> tuple[Folder, list[Change]]:
    """RFC 3501 §6.3.5: INBOX's messages go to a new folder ``new``; INBOX stays, empty, with
    its UIDVALIDITY and UIDNEXT. The moved messages keep their UIDs (a new UIDVALIDITY)."""
    created = await _add_superiors(conn, account, new, {})
    new_id = await insert_folder(conn, account, new, None, datetime.now(UTC))
    if new_id is None:  # pragma: no cover - checked under the account lock
        raise FolderExists(f"{account}: {new}")
    inbox = await folder_by_id(conn, inbox_id)
    moved = (
        (
            await conn.execute(
                select(messages.c.uid)
                .where(messages.c.folder_id == inbox_id)
                .order_by(messages.c.uid)
            )
        )
        .scalars()
        .all()
    )
    for table in (messages, headers):  # headers after (and also cascaded, with foreign keys)
        await conn.execute(
            update(table).where(table.c.folder_id == inbox_id).values(folder_id=new_id)
        )
    await conn.execute(
        update(folders)
        .where(folders.c.id == new_id)
        .values(uidnext=inbox.uidnext, highest_modseq=inbox.highest_modseq)
    )
    changes = [Change(account, i, ChangeKind.FOLDERS) for i in [*created, new_id]]
    if moved:
        bumped = await bump_folder(conn, inbox_id, expunged=True)
        changes.append(
            Change(account, inbox_id, ChangeKind.EXPUNGE, tuple(moved), bumped.highest_modseq)
        )
    return await folder_by_id(conn, new_id), changes
