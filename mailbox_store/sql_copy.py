"""COPY and MOVE in the SQL store (RFC 3501 §6.4.7, RFC 4315 COPYUID, RFC 6851 MOVE).

One transaction each: the account rows are locked first (by name), then both folder rows by
ascending id. The copies get consecutive new UIDs in source order and share one new
MODSEQ; they point at the same blob (no body is copied) and the same sealed header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.errors import QuotaExceeded
from mailbox_store.models import Change, ChangeKind, CopyResult, Folder
from mailbox_store.sql_rows import (
    bump_folder,
    charge,
    chunks,
    delete_messages,
    folder_by_id,
    lock_account,
    lock_folder,
)
from mailbox_store.tables import headers, messages


async def copy(
    conn: AsyncConnection, folder_id: int, uids: Sequence[int], dest_id: int, *, move: bool
) -> tuple[CopyResult, list[Change]]:
    source, dest = await folder_by_id(conn, folder_id), await folder_by_id(conn, dest_id)
    names = sorted({source.account, dest.account})  # account rows first, in one order
    account = {name: await lock_account(conn, name) for name in names}[dest.account]
    for locked in sorted({folder_id, dest_id}):
        await lock_folder(conn, locked)
    dest = await folder_by_id(conn, dest_id)
    rows = await _rows(conn, folder_id, uids)
    if not rows:
        return CopyResult(dest.uidvalidity, (), ()), []
    size = sum(row.size for row in rows)
    # Within one account a MOVE uses no more space: no quota check then.
    check = not (move and source.account == dest.account)
    if check and account.quota is not None and account.used_bytes + size > account.quota:
        raise QuotaExceeded(f"{dest.account}: quota of {account.quota} bytes")
    result, change = await _insert_copies(conn, rows, dest)
    await charge(conn, dest.account, size, len(rows))
    changes = [change]
    if move:
        changes.append(await _remove(conn, source, result.source_uids, size))
    return result, changes


async def _rows(conn: AsyncConnection, folder_id: int, uids: Sequence[int]) -> list[Row[Any]]:
    found: list[Row[Any]] = []
    for chunk in chunks(sorted(set(uids))):
        query = (
            select(messages)
            .where(messages.c.folder_id == folder_id, messages.c.uid.in_(chunk))
            .order_by(messages.c.uid)
        )
        found.extend(await conn.execute(query))
    return found


async def _insert_copies(
    conn: AsyncConnection, rows: list[Row[Any]], dest: Folder
) -> tuple[CopyResult, Change]:
    after = await bump_folder(conn, dest.id, uids=len(rows))
    new_uids = tuple(range(dest.uidnext, dest.uidnext + len(rows)))
    await conn.execute(
        insert(messages),
        [
            {
                "folder_id": dest.id,
                "uid": uid,
                "modseq": after.highest_modseq,
                "flags": row.flags,
                "internal_date": row.internal_date,
                "internal_zone": row.internal_zone,
                "size": row.size,
                "blob_id": row.blob_id,
            }
            for row, uid in zip(rows, new_uids, strict=True)
        ],
    )
    source_uids = tuple(row.uid for row in rows)
    await _copy_headers(
        conn, rows[0].folder_id, dict(zip(source_uids, new_uids, strict=True)), dest
    )
    result = CopyResult(dest.uidvalidity, source_uids, new_uids)
    change = Change(dest.account, dest.id, ChangeKind.EXISTS, new_uids, after.highest_modseq)
    return result, change


async def _copy_headers(
    conn: AsyncConnection, source_id: int, new_uid_of: dict[int, int], dest: Folder
) -> None:
    """The copies share the sealed header sections (sealed under the blob id: no re-seal)."""
    copied = []
    for chunk in chunks(sorted(new_uid_of)):
        query = select(headers.c.uid, headers.c.content).where(
            headers.c.folder_id == source_id, headers.c.uid.in_(chunk)
        )
        for uid, content in await conn.execute(query):
            copied.append({"folder_id": dest.id, "uid": new_uid_of[uid], "content": content})
    if copied:
        await conn.execute(insert(headers), copied)


async def _remove(
    conn: AsyncConnection, source: Folder, uids: tuple[int, ...], size: int
) -> Change:
    await delete_messages(conn, source.id, uids)
    await charge(conn, source.account, -size, -len(uids))
    after = await bump_folder(conn, source.id, expunged=True)
    return Change(source.account, source.id, ChangeKind.EXPUNGE, uids, after.highest_modseq)
