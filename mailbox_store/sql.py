"""The mailbox store on SQL (SQLite by default, PostgreSQL at scale), bodies in a ``BlobStore``.

``deliver`` goes through group commit (``mailbox_store.group_commit``); the other changes use one
ordinary transaction each, holding the folder row (``FOR UPDATE`` on PostgreSQL, the database write
lock on SQLite) so that MODSEQ values are allocated one after the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store.batch_writers import make_batch_writer
from mailbox_store.blobs import blob_id_of
from mailbox_store.dialect import begin_write, insert_ignore
from mailbox_store.errors import (
    FolderExists,
    StoreError,
    UnknownAccount,
    UnknownFolder,
    UnknownMessage,
)
from mailbox_store.group_commit import GroupCommitStats, GroupCommitter
from mailbox_store.inline import InlineBlobs
from mailbox_store.interfaces import BlobStore
from mailbox_store.logic import (
    DELETED,
    FIRST_MODSEQ,
    FIRST_UID,
    after_store,
    check_flags,
    flag_changes,
    internal_date_or_now,
    make_uidvalidity,
)
from mailbox_store.models import (
    DEFAULT_FOLDERS,
    Change,
    ChangeKind,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    MessageRecord,
    SpecialUse,
)
from mailbox_store.notify import ChangeHub, ChangeSubscription
from mailbox_store.tables import (
    accounts,
    decode_flags,
    encode_flags,
    folders,
    inline_blobs,
    messages,
)

_CHUNK = 500  # bound parameters per IN (...) list, far below SQLite's and asyncpg's limits


class SqlMailboxStore:
    def __init__(
        self,
        engine: AsyncEngine,
        blobs: BlobStore,
        hub: ChangeHub,
        *,
        group_commit_max: int = 128,
        inline: InlineBlobs | None = None,
    ) -> None:
        self._engine = engine
        self._blobs = blobs
        self._hub = hub
        self._inline = inline
        writer = make_batch_writer(engine, inline)
        self._writer = GroupCommitter(writer, hub, max_batch=group_commit_max)

    async def create_account(self, account: str) -> None:
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            await conn.execute(insert_ignore(conn, accounts).values(name=account, created_at=now))
            created: list[int] = []
            for name, special_use in DEFAULT_FOLDERS:
                folder_id = await _insert_folder(conn, account, name, special_use, now)
                if folder_id is not None:
                    created.append(folder_id)
        for folder_id in created:
            self._hub.publish(Change(account, folder_id, ChangeKind.FOLDERS))

    async def list_folders(self, account: str) -> list[Folder]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(folders).where(folders.c.account == account).order_by(folders.c.id)
            )
            found = [_folder(row) for row in rows]
            if not found and not await _account_exists(conn, account):
                raise UnknownAccount(account)
        return found

    async def get_folder(self, account: str, name: str) -> Folder | None:
        query = select(folders).where(folders.c.account == account, folders.c.name == name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _folder(row)

    async def create_folder(
        self, account: str, name: str, special_use: SpecialUse | None = None
    ) -> Folder:
        async with begin_write(self._engine) as conn:
            if not await _account_exists(conn, account):
                raise UnknownAccount(account)
            folder_id = await _insert_folder(conn, account, name, special_use, datetime.now(UTC))
            if folder_id is None:
                raise FolderExists(f"{account}: {name}")
            folder = await _folder_by_id(conn, folder_id)
        self._hub.publish(Change(account, folder_id, ChangeKind.FOLDERS))
        return folder

    async def deliver(
        self, body: bytes, targets: Sequence[Delivery], internal_date: datetime | None = None
    ) -> list[Delivered | StoreError]:
        if not targets:
            return []
        for target in targets:
            check_flags(target.flags)
        when = internal_date_or_now(internal_date)
        if self._inline is not None and self._inline.accepts(body):
            blob_id = blob_id_of(body)  # sealed and written in the batch's transaction
            return await self._writer.submit(blob_id, len(body), tuple(targets), when, body)
        blob_id = await self._blobs.put(body)  # one blob, however many targets
        return await self._writer.submit(blob_id, len(body), tuple(targets), when)

    async def list_messages(
        self, folder_id: int, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageRecord]:
        query = _messages_of(folder_id).where(messages.c.uid >= uid_from)
        if uid_to is not None:
            query = query.where(messages.c.uid <= uid_to)
        async with self._engine.connect() as conn:
            found = [_message(row) for row in await conn.execute(query.order_by(messages.c.uid))]
            if not found:
                await _folder_by_id(conn, folder_id)
        return found

    async def get_body(self, folder_id: int, uid: int) -> bytes:
        query = (
            select(messages.c.blob_id, inline_blobs.c.content)
            .outerjoin(inline_blobs, inline_blobs.c.blob_id == messages.c.blob_id)
            .where(messages.c.folder_id == folder_id, messages.c.uid == uid)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                await _folder_by_id(conn, folder_id)
                raise UnknownMessage(f"folder {folder_id}: no UID {uid}")
        if row.content is not None and self._inline is not None:
            return self._inline.open(row.blob_id, row.content)
        return await self._blobs.get(row.blob_id)

    async def store_flags(
        self, folder_id: int, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> list[MessageRecord]:
        """Set flags; changed messages share one new MODSEQ, unchanged ones keep theirs."""
        check_flags(flags)
        async with begin_write(self._engine) as conn:
            folder = await _lock_folder(conn, folder_id)
            records = [_message(row) for row in await _select_uids(conn, folder_id, uids)]
            changes = flag_changes(records, flags, mode)
            modseq = folder.highest_modseq + 1
            if changes:
                await _set_modseq(conn, folder_id, modseq)
                await _write_flags(conn, folder_id, changes, modseq)
        if changes:
            changed = tuple(sorted(changes))
            self._hub.publish(Change(folder.account, folder_id, ChangeKind.FLAGS, changed, modseq))
        return after_store(records, changes, modseq)

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        async with begin_write(self._engine) as conn:
            folder = await _lock_folder(conn, folder_id)
            if uids is None:
                rows = list(await conn.execute(_deleted_candidates(folder_id)))
            else:
                rows = list(await _select_uids(conn, folder_id, uids))
            gone = sorted(row.uid for row in rows if DELETED in decode_flags(row.flags))
            modseq = folder.highest_modseq + 1
            if gone:
                await _set_modseq(conn, folder_id, modseq)
                for chunk in _chunks(gone):
                    await conn.execute(
                        delete(messages).where(
                            messages.c.folder_id == folder_id, messages.c.uid.in_(chunk)
                        )
                    )
        if gone:
            self._hub.publish(
                Change(folder.account, folder_id, ChangeKind.EXPUNGE, tuple(gone), modseq)
            )
        return gone

    def subscribe(self, account: str) -> ChangeSubscription:
        return self._hub.subscribe(account)

    @property
    def group_commit_stats(self) -> GroupCommitStats:
        return self._writer.stats

    async def close(self) -> None:
        """Finish the deliveries already queued and stop the writer; the engine is the caller's."""
        await self._writer.close()


async def _insert_folder(
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
            subscribed=True,
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


async def _account_exists(conn: AsyncConnection, account: str) -> bool:
    found = await conn.execute(select(accounts.c.name).where(accounts.c.name == account))
    return found.first() is not None


async def _folder_by_id(conn: AsyncConnection, folder_id: int) -> Folder:
    row = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
    if row is None:
        raise UnknownFolder(f"folder {folder_id}")
    return _folder(row)


async def _lock_folder(conn: AsyncConnection, folder_id: int) -> Folder:
    """The folder row, locked until the end of the transaction (PostgreSQL; SQLite is locked)."""
    query = select(folders).where(folders.c.id == folder_id).with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownFolder(f"folder {folder_id}")
    return _folder(row)


async def _set_modseq(conn: AsyncConnection, folder_id: int, modseq: int) -> None:
    await conn.execute(
        update(folders).where(folders.c.id == folder_id).values(highest_modseq=modseq)
    )


async def _write_flags(
    conn: AsyncConnection, folder_id: int, changes: dict[int, frozenset[str]], modseq: int
) -> None:
    """One UPDATE per distinct new flag set (and chunk of UIDs), not one per message."""
    by_flags: dict[frozenset[str], list[int]] = {}
    for uid, new in changes.items():
        by_flags.setdefault(new, []).append(uid)
    for new, uids in by_flags.items():
        for chunk in _chunks(sorted(uids)):
            await conn.execute(
                update(messages)
                .where(messages.c.folder_id == folder_id, messages.c.uid.in_(chunk))
                .values(flags=encode_flags(new), modseq=modseq)
            )


async def _select_uids(
    conn: AsyncConnection, folder_id: int, uids: Sequence[int]
) -> list[Row[Any]]:
    rows: list[Row[Any]] = []
    for chunk in _chunks(sorted(set(uids))):
        rows.extend(await conn.execute(_messages_of(folder_id).where(messages.c.uid.in_(chunk))))
    return rows


def _messages_of(folder_id: int) -> Select[Any]:
    return select(messages).where(messages.c.folder_id == folder_id)


def _deleted_candidates(folder_id: int) -> Select[Any]:
    """Rows whose flags text contains ``\\Deleted``; the caller checks the exact flag."""
    return _messages_of(folder_id).where(messages.c.flags.contains(DELETED, autoescape=True))


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _folder(row: Row[Any]) -> Folder:
    return Folder(
        id=row.id,
        account=row.account,
        name=row.name,
        special_use=None if row.special_use is None else SpecialUse(row.special_use),
        uidvalidity=row.uidvalidity,
        uidnext=row.uidnext,
        highest_modseq=row.highest_modseq,
        subscribed=bool(row.subscribed),
    )


def _message(row: Row[Any]) -> MessageRecord:
    return MessageRecord(
        folder_id=row.folder_id,
        uid=row.uid,
        modseq=row.modseq,
        flags=decode_flags(row.flags),
        internal_date=row.internal_date,
        size=row.size,
        blob_id=row.blob_id,
    )
