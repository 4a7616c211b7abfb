"""Small SQL helpers shared by the SQL store's modules: rows to records, row locks, folders.

Lock order, everywhere: the account row first, then folder rows by ascending id. Deliveries,
COPY/MOVE, EXPUNGE and folder changes of one account therefore never deadlock each other on
PostgreSQL (on SQLite a write transaction holds the whole database).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.dialect import insert_ignore
from mailbox_store.errors import UnknownAccount, UnknownFolder
from mailbox_store.logic import DELETED, FIRST_MODSEQ, FIRST_UID, in_zone, make_uidvalidity
from mailbox_store.models import Folder, MessageRecord, SpecialUse
from mailbox_store.tables import accounts, decode_flags, encode_flags, folders, headers, messages

CHUNK = 500  # bound parameters per IN (...) list, far below SQLite's and asyncpg's limits


def chunks(values: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def folder_of(row: Row[Any]) -> Folder:
    return Folder(
        id=row.id,
        account=row.account,
        name=row.name,
        special_use=None if row.special_use is None else SpecialUse(row.special_use),
        uidvalidity=row.uidvalidity,
        uidnext=row.uidnext,
        highest_modseq=row.highest_modseq,
    )


def message_of(row: Row[Any]) -> MessageRecord:
    return MessageRecord(
        folder_id=row.folder_id,
        uid=row.uid,
        modseq=row.modseq,
        flags=decode_flags(row.flags),
        internal_date=in_zone(row.internal_date, row.internal_zone),
        size=row.size,
        blob_id=row.blob_id,
    )


async def account_exists(conn: AsyncConnection, account: str) -> bool:
    found = await conn.execute(select(accounts.c.name).where(accounts.c.name == account))
    return found.first() is not None


async def lock_account(conn: AsyncConnection, account: str) -> Row[Any]:
    """The account row (quota and usage), locked until the end of the transaction."""
    query = select(accounts).where(accounts.c.name == account).with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownAccount(account)
    return row


async def charge(conn: AsyncConnection, account: str, size: int, count: int) -> None:
    """Add ``size`` bytes and ``count`` messages (negative to remove) to the account's usage."""
    await conn.execute(
        update(accounts)
        .where(accounts.c.name == account)
        .values(
            used_bytes=accounts.c.used_bytes + size,
            message_count=accounts.c.message_count + count,
        )
    )


async def folder_by_id(conn: AsyncConnection, folder_id: int) -> Folder:
    row = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
    if row is None:
        raise UnknownFolder(f"folder {folder_id}")
    return folder_of(row)


async def lock_folder(conn: AsyncConnection, folder_id: int) -> Folder:
    """The folder row, locked until the end of the transaction (PostgreSQL; SQLite is locked)."""
    query = select(folders).where(folders.c.id == folder_id).with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownFolder(f"folder {folder_id}")
    return folder_of(row)


async def bump_folder(
    conn: AsyncConnection, folder_id: int, uids: int = 0, *, expunged: bool = False
) -> Folder:
    """Advance the folder's MODSEQ by one and its UIDNEXT by ``uids``; the folder after.
    ``expunged``: messages were removed, the new MODSEQ is also the folder's last removal."""
    values: dict[str, Any] = {
        "uidnext": folders.c.uidnext + uids,
        "highest_modseq": folders.c.highest_modseq + 1,
    }
    if expunged:
        values["expunged_modseq"] = folders.c.highest_modseq + 1
    await conn.execute(update(folders).where(folders.c.id == folder_id).values(values))
    return await folder_by_id(conn, folder_id)


async def delete_messages(conn: AsyncConnection, folder_id: int, uids: Sequence[int]) -> None:
    """Delete message rows and their header rows (also cascaded, when foreign keys are on)."""
    for chunk in chunks(uids):
        for table in (headers, messages):
            await conn.execute(
                delete(table).where(table.c.folder_id == folder_id, table.c.uid.in_(chunk))
            )


async def insert_folder(
    conn: AsyncConnection,
    account: str,
    name: str,
    special_use: SpecialUse | None,
    now: datetime,
) -> int | None:
    """Insert a folder unless one of that name exists; its id, or None if it existed."""
    inserted = await conn.execute(
        insert_ignore(conn, folders)
        .values(
            account=account,
            name=name,
            special_use=None if special_use is None else special_use.value,
            uidvalidity=0,
            uidnext=FIRST_UID,
            highest_modseq=FIRST_MODSEQ,
            subscribed=True,  # legacy column, not read (subscriptions: migration 0012)
            recent_uid=FIRST_UID,
        )
        .returning(folders.c.id)
    )
    folder_id: int | None = inserted.scalar_one_or_none()
    if folder_id is not None:
        uidvalidity = make_uidvalidity(folder_id, now)
        await conn.execute(
            update(folders).where(folders.c.id == folder_id).values(uidvalidity=uidvalidity)
        )
    return folder_id


async def set_modseq(conn: AsyncConnection, folder_id: int, modseq: int) -> None:
    await conn.execute(
        update(folders).where(folders.c.id == folder_id).values(highest_modseq=modseq)
    )


async def write_flags(
    conn: AsyncConnection, folder_id: int, changes: dict[int, frozenset[str]], modseq: int
) -> None:
    """One UPDATE per distinct new flag set (and chunk of UIDs), not one per message."""
    by_flags: dict[frozenset[str], list[int]] = {}
    for uid, new in changes.items():
        by_flags.setdefault(new, []).append(uid)
    for new, uids in by_flags.items():
        for chunk in chunks(sorted(uids)):
            await conn.execute(
                update(messages)
                .where(messages.c.folder_id == folder_id, messages.c.uid.in_(chunk))
                .values(flags=encode_flags(new), modseq=modseq)
            )


async def select_uids(conn: AsyncConnection, folder_id: int, uids: Sequence[int]) -> list[Row[Any]]:
    rows: list[Row[Any]] = []
    for chunk in chunks(sorted(set(uids))):
        rows.extend(await conn.execute(messages_of(folder_id).where(messages.c.uid.in_(chunk))))
    return rows


def messages_of(folder_id: int) -> Select[Any]:
    return select(messages).where(messages.c.folder_id == folder_id)


def deleted_candidates(folder_id: int) -> Select[Any]:
    """Rows whose flags text contains ``\\Deleted``; the caller checks the exact flag."""
    return messages_of(folder_id).where(messages.c.flags.contains(DELETED, autoescape=True))
