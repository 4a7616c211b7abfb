"""The mailbox store on SQL (SQLite by default, PostgreSQL at scale), bodies in a ``BlobStore``.

``deliver`` goes through group commit (``mailbox_store.group_commit``); the other changes use one
ordinary transaction each, holding the rows they change (``FOR UPDATE`` on PostgreSQL, the
database write lock on SQLite; the account row before folder rows, see ``sql_rows``) so that
UIDs and MODSEQ values are allocated one after the other. Folder changes are in ``sql_folders``,
COPY/MOVE in ``sql_copy``, the lean reads of large folders in ``sql_reads``.

Header sections are sealed with ``keyring`` (or the inline bodies' key ring) at delivery; without
a key ring none is kept and ``get_header`` reads the body.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Collection, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store import sql_copy, sql_folders, sql_reads, sql_subscriptions
from mailbox_store.batch_writers import make_batch_writer
from mailbox_store.blobs import KeyRing, blob_id_of
from mailbox_store.dialect import begin_read, begin_write, insert_ignore
from mailbox_store.errors import (
    FolderExists,
    StoreError,
    UnknownAccount,
    UnknownMessage,
)
from mailbox_store.filing import DeliveryRequest, FiledBatch
from mailbox_store.group_commit import GroupCommitStats, GroupCommitter
from mailbox_store.headers import HeaderSeal
from mailbox_store.inline import InlineBlobs
from mailbox_store.interfaces import BlobStore
from mailbox_store.logic import (
    DELETED,
    after_store,
    canonical_name,
    check_flags,
    check_folder_name,
    check_quota,
    flag_changes,
    header_section,
    internal_date_or_now,
)
from mailbox_store.models import (
    DEFAULT_FOLDERS,
    Change,
    ChangeKind,
    CopyResult,
    Delivered,
    Delivery,
    FlagMode,
    Folder,
    FolderSummary,
    MessageRecord,
    SearchSnapshot,
    SpecialUse,
    Usage,
)
from mailbox_store.notify import ChangeHub, ChangeSubscription
from mailbox_store.recent import recent_marks
from mailbox_store.search_snapshots import SqlSearchSnapshots
from mailbox_store.sql_rows import (
    account_exists,
    bump_folder,
    charge,
    delete_messages,
    deleted_candidates,
    folder_by_id,
    folder_of,
    insert_folder,
    lock_account,
    lock_folder,
    message_of,
    select_uids,
    set_modseq,
    write_flags,
)
from mailbox_store.sql_summary import SAVE_MIN_MESSAGES, SqlSummaries
from mailbox_store.summary_cache import DEFAULT_MAX_UIDS
from mailbox_store.tables import (
    accounts,
    decode_flags,
    encode_flags,
    folders,
    inline_blobs,
    messages,
)

T = TypeVar("T")


class SqlMailboxStore:
    def __init__(
        self,
        engine: AsyncEngine,
        blobs: BlobStore,
        hub: ChangeHub,
        *,
        group_commit_max: int = 128,
        inline: InlineBlobs | None = None,
        keyring: KeyRing | None = None,
        summary_cache: int = DEFAULT_MAX_UIDS,
        summary_save_min: int = SAVE_MIN_MESSAGES,
    ) -> None:
        self._engine = engine
        self._blobs = blobs
        self._hub = hub
        self._inline = inline
        keyring = keyring or (inline.keyring if inline is not None else None)
        self._headers = None if keyring is None else HeaderSeal(keyring)
        self._search_snapshots = SqlSearchSnapshots(engine, keyring)
        self._summaries = SqlSummaries(engine, summary_cache, save_min=summary_save_min)
        self._recent = recent_marks(engine)  # \Recent: in memory on SQLite (``recent``)
        writer = make_batch_writer(engine, inline)
        self._batch = writer  # also runs STORE/EXPUNGE transactions (``sql_thread``)
        self._writer = GroupCommitter(
            writer, hub, max_batch=group_commit_max, on_commit=self._committed
        )

    async def create_account(self, account: str, quota: int | None = None) -> None:
        check_quota(quota)
        now = datetime.now(UTC)
        async with begin_write(self._engine) as conn:
            await conn.execute(insert_ignore(conn, accounts).values(name=account, created_at=now))
            if quota is not None:
                await conn.execute(
                    update(accounts).where(accounts.c.name == account).values(quota=quota)
                )
            created: list[Folder] = []
            for name, special_use in DEFAULT_FOLDERS:
                folder_id = await insert_folder(conn, account, name, special_use, now)
                if folder_id is not None:
                    created.append(await folder_by_id(conn, folder_id))
            # The default folders start subscribed, once: a later call never re-subscribes.
            await sql_subscriptions.add(conn, account, [f.name for f in created])
        for folder in created:
            self._summaries.created(folder)
            self._hub.publish(Change(account, folder.id, ChangeKind.FOLDERS))

    async def list_folders(self, account: str) -> list[Folder]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(folders).where(folders.c.account == account).order_by(folders.c.id)
            )
            found = [folder_of(row) for row in rows]
            if not found and not await account_exists(conn, account):
                raise UnknownAccount(account)
        return found

    async def get_folder(self, account: str, name: str) -> Folder | None:
        query = select(folders).where(folders.c.account == account, folders.c.name == name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else folder_of(row)

    async def create_folder(
        self, account: str, name: str, special_use: SpecialUse | None = None
    ) -> Folder:
        check_folder_name(name)
        name = canonical_name(name)
        async with begin_write(self._engine) as conn:
            if not await account_exists(conn, account):
                raise UnknownAccount(account)
            folder_id = await insert_folder(conn, account, name, special_use, datetime.now(UTC))
            if folder_id is None:
                raise FolderExists(f"{account}: {name}")
            folder = await folder_by_id(conn, folder_id)
        self._summaries.created(folder)
        self._hub.publish(Change(account, folder_id, ChangeKind.FOLDERS))
        return folder

    async def rename_folder(self, account: str, old: str, new: str) -> Folder:
        async with begin_write(self._engine) as conn:
            folder, changes = await sql_folders.rename(conn, account, canonical_name(old), new)
        self._publish(changes)
        return folder

    async def delete_folder(self, account: str, name: str) -> None:
        async with begin_write(self._engine) as conn:
            changes = await sql_folders.delete_folder(conn, account, canonical_name(name))
        self._publish(changes)

    async def add_subscription(self, account: str, name: str) -> None:
        check_folder_name(name)
        async with begin_write(self._engine) as conn:
            if not await account_exists(conn, account):
                raise UnknownAccount(account)
            await sql_subscriptions.add(conn, account, [canonical_name(name)])

    async def remove_subscription(self, account: str, name: str) -> None:
        async with begin_write(self._engine) as conn:
            if not await account_exists(conn, account):
                raise UnknownAccount(account)
            await sql_subscriptions.remove(conn, account, canonical_name(name))

    async def subscriptions(self, account: str) -> list[str]:
        async with self._engine.connect() as conn:
            return await sql_subscriptions.names(conn, account)

    async def deliver(
        self, body: bytes, targets: Sequence[Delivery], internal_date: datetime | None = None
    ) -> list[Delivered | StoreError]:
        if not targets:
            return []
        for target in targets:
            check_flags(target.flags)
        when = internal_date_or_now(internal_date)
        inline = self._inline is not None and self._inline.accepts(body)
        # inline: sealed and written in the batch's transaction; else one blob for all targets
        blob_id = blob_id_of(body) if inline else await self._blobs.put(body)
        header = None
        if self._headers is not None:
            header = self._headers.seal(blob_id, header_section(body))
        return await self._writer.submit(
            blob_id, len(body), tuple(targets), when, body if inline else None, header
        )

    async def list_messages(
        self, folder_id: int, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageRecord]:
        where = [messages.c.uid >= uid_from]
        if uid_to is not None:
            where.append(messages.c.uid <= uid_to)
        return await self._records(folder_id, where)

    async def get_body(self, folder_id: int, uid: int) -> bytes:
        query = (
            select(messages.c.blob_id, inline_blobs.c.content)
            .outerjoin(inline_blobs, inline_blobs.c.blob_id == messages.c.blob_id)
            .where(messages.c.folder_id == folder_id, messages.c.uid == uid)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                await folder_by_id(conn, folder_id)
                raise UnknownMessage(f"folder {folder_id}: no UID {uid}")
        if row.content is not None and self._inline is not None:
            return self._inline.open(row.blob_id, row.content)
        return await self._blobs.get(row.blob_id)

    async def iter_bodies(
        self, folder_id: int, uids: Sequence[int], batch: int = 64
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        """One short read per batch (no connection held while the consumer works)."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        wanted = sorted(set(uids))
        for start in range(0, len(wanted), batch):
            async with self._engine.connect() as conn:
                rows = await sql_reads.body_rows(conn, folder_id, wanted[start : start + batch])
            bodies = []
            for uid, blob_id, content in rows:
                if content is not None and self._inline is not None:
                    bodies.append((uid, self._inline.open(blob_id, content)))
                else:
                    bodies.append((uid, await self._blobs.get(blob_id)))
            if bodies:
                yield bodies

    async def get_header(self, folder_id: int, uid: int) -> bytes:
        query = sql_reads.header_query(folder_id).where(messages.c.uid == uid)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                await folder_by_id(conn, folder_id)
                raise UnknownMessage(f"folder {folder_id}: no UID {uid}")
        return await self._open_header(folder_id, row.uid, row.blob_id, row.content)

    async def iter_headers(
        self, folder_id: int, uids: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        """One short read per batch (no connection held while the consumer works); the next
        batch is read (in the driver's thread) while this one is opened and used."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        pages = self._header_rows(folder_id, uids, batch)
        ahead = asyncio.ensure_future(anext(pages, None))
        try:
            while (rows := await ahead) is not None:
                ahead = asyncio.ensure_future(anext(pages, None))
                yield await self._opened(folder_id, rows)
        finally:
            if not ahead.done():
                ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead  # a read ahead the consumer did not wait for
            await pages.aclose()

    async def _opened(
        self, folder_id: int, rows: list[tuple[int, str, bytes | None]]
    ) -> list[tuple[int, bytes]]:
        """``(uid, header)`` of header rows: opened in one loop when all are sealed."""
        seal = self._headers
        if seal is not None and all(content is not None for _, _, content in rows):
            sealed: Any = [(blob_id, content) for _, blob_id, content in rows]
            opened = seal.open_many(sealed)  # every content is bytes
            return [(row[0], header) for row, header in zip(rows, opened, strict=True)]
        return [
            (uid, await self._open_header(folder_id, uid, blob_id, content))
            for uid, blob_id, content in rows
        ]

    async def changed_since(self, folder_id: int, modseq: int) -> list[MessageRecord]:
        return await self._records(folder_id, [messages.c.modseq > modseq])

    async def load_search_snapshots(
        self, folder_id: int, uidvalidity: int, fields: Collection[str]
    ) -> dict[str, SearchSnapshot]:
        return await self._search_snapshots.load(folder_id, uidvalidity, fields)

    async def save_search_snapshot(self, folder_id: int, snapshot: SearchSnapshot) -> bool:
        return await self._search_snapshots.save(folder_id, snapshot)

    async def search_snapshot_lag(
        self, fields: Collection[str], min_uid: int
    ) -> list[tuple[Folder, dict[str, int]]]:
        return await self._search_snapshots.lag(fields, min_uid)

    def claim_search_build(self, folder_id: int) -> contextlib.AbstractAsyncContextManager[bool]:
        return self._search_snapshots.claim_build(folder_id)

    async def summary(self, folder_id: int) -> FolderSummary:
        """From the summary cache, or the folder's saved state, brought up to date in one
        snapshot (``sql_summary``)."""
        return await self._summaries.summary(folder_id)

    @property
    def summaries(self) -> SqlSummaries:
        """The SELECT summaries (cache and saved states) of this node."""
        return self._summaries

    async def claim_recent(self, folder_id: int, until: int | None = None) -> int:
        return await self._recent.claim(folder_id, until)

    async def usage(self, account: str) -> Usage:
        query = select(accounts.c.used_bytes, accounts.c.message_count, accounts.c.quota)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query.where(accounts.c.name == account))).first()
        if row is None:
            raise UnknownAccount(account)
        return Usage(int(row.used_bytes), int(row.message_count), row.quota)

    async def set_quota(self, account: str, quota: int | None) -> None:
        check_quota(quota)
        async with begin_write(self._engine) as conn:
            await lock_account(conn, account)
            await conn.execute(
                update(accounts).where(accounts.c.name == account).values(quota=quota)
            )

    async def store_flags(
        self, folder_id: int, uids: Sequence[int], flags: frozenset[str], mode: FlagMode
    ) -> list[MessageRecord]:
        """Set flags; changed messages share one new MODSEQ, unchanged ones keep theirs. A STORE
        that changes nothing (``+FLAGS (\\Seen)`` on messages already seen: clients send many)
        is answered from one snapshot, without taking the write lock (issue 3: mixed workload)."""
        check_flags(flags)
        async with begin_read(self._engine) as conn:
            found = [message_of(row) for row in await select_uids(conn, folder_id, uids)]
        if found and not flag_changes(found, flags, mode):
            return after_store(found, {}, 0)

        async def body(
            conn: AsyncConnection,
        ) -> tuple[Folder, list[MessageRecord], dict[int, frozenset[str]], int]:
            folder = await lock_folder(conn, folder_id)
            records = [message_of(row) for row in await select_uids(conn, folder_id, uids)]
            changes = flag_changes(records, flags, mode)
            modseq = folder.highest_modseq + 1
            if changes:
                await set_modseq(conn, folder_id, modseq)
                await write_flags(conn, folder_id, changes, modseq)
            return folder, records, changes, modseq

        async def write() -> list[MessageRecord]:
            folder, records, changes, modseq = await self._batch.run(body)
            if changes:
                changed = tuple(sorted(changes))
                change = Change(folder.account, folder_id, ChangeKind.FLAGS, changed, modseq)
                self._hub.publish(change)
            return after_store(records, changes, modseq)

        return await _shielded(write())

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        async def body(conn: AsyncConnection) -> tuple[Folder, list[int], int]:
            folder = await folder_by_id(conn, folder_id)
            await lock_account(conn, folder.account)
            folder = await lock_folder(conn, folder_id)
            if uids is None:
                rows = list(await conn.execute(deleted_candidates(folder_id)))
            else:
                rows = list(await select_uids(conn, folder_id, uids))
            doomed = [row for row in rows if DELETED in decode_flags(row.flags)]
            gone = sorted(row.uid for row in doomed)
            modseq = folder.highest_modseq + 1
            if gone:
                await bump_folder(conn, folder_id, expunged=True)
                await charge(conn, folder.account, -sum(row.size for row in doomed), -len(gone))
                await delete_messages(conn, folder_id, gone)
            return folder, gone, modseq

        async def write() -> list[int]:
            folder, gone, modseq = await self._batch.run(body)
            if gone:
                self._summaries.removed(folder_id, gone, modseq)
                self._hub.publish(
                    Change(folder.account, folder_id, ChangeKind.EXPUNGE, tuple(gone), modseq)
                )
            return gone

        return await _shielded(write())

    async def copy_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        async with begin_write(self._engine) as conn:
            result, changes = await sql_copy.copy(conn, folder_id, uids, dest_folder_id, move=False)
        self._publish(changes)
        return result

    async def move_messages(
        self, folder_id: int, uids: Sequence[int], dest_folder_id: int
    ) -> CopyResult:
        async with begin_write(self._engine) as conn:
            result, changes = await sql_copy.copy(conn, folder_id, uids, dest_folder_id, move=True)
        for change in changes:
            if change.kind is ChangeKind.EXPUNGE:
                self._summaries.removed(change.folder_id, change.uids, change.modseq)
        self._publish(changes)
        return result

    def subscribe(self, account: str) -> ChangeSubscription:
        return self._hub.subscribe(account)

    @property
    def group_commit_stats(self) -> GroupCommitStats:
        return self._writer.stats

    async def close(self) -> None:
        """Finish the deliveries already queued and stop the writer; the engine is the caller's."""
        await self._writer.close()
        await self._summaries.close()  # saves the folder summaries due
        await self._recent.close()  # writes the \Recent marks claimed

    def _committed(self, requests: list[DeliveryRequest], batch: FiledBatch) -> None:
        """This node's deliveries, in MODSEQ order, into the summary cache (``added``)."""
        modseqs = {
            (c.folder_id, c.uids[0]): c.modseq
            for c in batch.changes
            if c.kind is ChangeKind.EXISTS and len(c.uids) == 1
        }
        filed: list[tuple[int, int, int, str]] = []
        for request, outcomes in zip(requests, batch.outcomes, strict=True):
            for target, outcome in zip(request.targets, outcomes, strict=True):
                if isinstance(outcome, Delivered):
                    modseq = modseqs.get((outcome.folder_id, outcome.uid))
                    if modseq is not None:
                        text = encode_flags(target.flags)
                        filed.append((modseq, outcome.folder_id, outcome.uid, text))
        for modseq, folder_id, uid, text in sorted(filed):
            self._summaries.added(folder_id, uid, text, modseq)

    def _publish(self, changes: list[Change]) -> None:
        for change in changes:
            self._hub.publish(change)

    async def _records(
        self, folder_id: int, where: list[ColumnElement[bool]]
    ) -> list[MessageRecord]:
        """The folder's messages matching ``where``, in UID order, in one read (one snapshot;
        reading in pages while converting was slower on a busy two-core machine)."""
        async with self._engine.connect() as conn:
            query = sql_reads.message_query(conn).where(messages.c.folder_id == folder_id)
            rows = await sql_reads.fetch(conn, query.where(*where).order_by(messages.c.uid))
            if not rows:
                await folder_by_id(conn, folder_id)
        return sql_reads.records(rows)

    async def _header_rows(
        self, folder_id: int, uids: Sequence[int] | None, batch: int
    ) -> AsyncGenerator[list[tuple[int, str, bytes | None]], None]:
        """Rows ``(uid, blob_id, sealed header)`` in UID order, ``batch`` at a time: pages by
        UID (keyset) over the whole folder, or chunks of the sorted ``uids``; one short read
        per page (no connection held while the caller works)."""
        query = sql_reads.header_query(folder_id)
        wanted = None if uids is None else sorted(set(uids))
        last = 0
        for page in itertools.count():
            async with begin_read(self._engine) as conn:
                if wanted is None:
                    rows = await sql_reads.header_page(conn, folder_id, last, batch)
                else:
                    chunk = wanted[page * batch : (page + 1) * batch]
                    statement = query.where(messages.c.uid.in_(chunk))
                    rows = list(await sql_reads.fetch(conn, statement))
                if page == 0 and not rows:
                    await folder_by_id(conn, folder_id)  # UnknownFolder, or simply empty
            if rows:
                last = rows[-1][0]
                yield rows
            if len(rows) < batch if wanted is None else (page + 1) * batch >= len(wanted):
                return

    async def _open_header(
        self, folder_id: int, uid: int, blob_id: str, sealed: bytes | None
    ) -> bytes:
        if sealed is not None and self._headers is not None:
            return self._headers.open(blob_id, sealed)
        return header_section(await self.get_body(folder_id, uid))  # none kept: read the body


async def _shielded(write: Coroutine[Any, Any, T]) -> T:
    """``write`` (a transaction, then the changes it committed published) to its end even if
    the caller is cancelled: committed changes are always published."""
    return await asyncio.shield(asyncio.ensure_future(write))
