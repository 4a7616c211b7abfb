"""SELECT summaries of the SQL store: the in-memory cache (``summary_cache``), loaded from the
database at a node's first SELECT of a folder, from the folder's saved state when it has a usable
one (``summary_store``), and saved back in the background.

``summary`` reads, in one snapshot, the folder row, then brings the cache entry up to date with
the messages whose MODSEQ is above it. Without an entry it tries the saved state (one small row
and the changes since it) before reading the whole folder. Entries of large folders whose saved
state is missing, unusable or far behind are saved by a background task ``save_delay`` seconds
after they became so, and at ``close``: saving never delays a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store import sql_reads, summary_store
from mailbox_store.dialect import begin_read, begin_write
from mailbox_store.errors import UnknownFolder
from mailbox_store.models import Folder, FolderSummary
from mailbox_store.sql_rows import folder_of
from mailbox_store.summary_cache import DEFAULT_MAX_UIDS, FolderEntry, SummaryCache
from mailbox_store.tables import folders

log = logging.getLogger(__name__)

SAVE_MIN_MESSAGES = 2_000  # smaller folders are read whole in a few milliseconds
SAVE_DELAY = 2.0  # seconds between a state becoming due and its saving


class SqlSummaries:
    def __init__(
        self,
        engine: AsyncEngine,
        max_uids: int = DEFAULT_MAX_UIDS,
        *,
        save_min: int = SAVE_MIN_MESSAGES,
        save_delay: float = SAVE_DELAY,
    ) -> None:
        self._engine = engine
        self.cache = SummaryCache(max_uids)
        self._save_min = save_min
        self._save_delay = save_delay
        self._due: set[int] = set()
        self._saver: asyncio.Task[None] | None = None
        self._closed = False
        self._replace: set[int] = set()  # folders whose saved state is unreadable

    async def summary(self, folder_id: int) -> FolderSummary:
        async with self.cache.lock(folder_id), begin_read(self._engine) as conn:
            row = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
            if row is None:
                self.cache.drop(folder_id)
                raise UnknownFolder(f"folder {folder_id}")
            folder = folder_of(row)
            expunged = int(row.expunged_modseq)
            entry = self.cache.get(folder, expunged)
            if entry is not None and not await _catch_up(conn, entry, folder):
                entry = None
            if entry is None:
                entry = await self._saved_entry(conn, folder, expunged)
            if entry is None:
                uids, texts = await sql_reads.uids_and_flags(conn, folder_id)
                entry = FolderEntry(folder.uidvalidity, folder.highest_modseq, uids, texts)
                entry.expunged = expunged
            self.cache.put(folder_id, entry)
            self._note(folder_id, entry)
            return entry.summary(folder)

    # -- write-through from the store's own changes (``SummaryCache``) -------------------------

    def created(self, folder: Folder) -> None:
        self.cache.created(folder)

    def added(self, folder_id: int, uid: int, flags: str, modseq: int) -> None:
        self.cache.added(folder_id, uid, flags, modseq)

    def removed(self, folder_id: int, uids: Sequence[int], modseq: int) -> None:
        self.cache.removed(folder_id, uids, modseq)
        entry = self.cache.peek(folder_id)
        if entry is not None:
            self._note(folder_id, entry)

    # -- saving --------------------------------------------------------------------------------

    async def save_due(self) -> int:
        """Save the states now due; how many were written."""
        due, self._due = self._due, set()
        taken = []
        for folder_id in sorted(due):
            entry = self.cache.peek(folder_id)
            if entry is not None and entry.save_due(self._save_min):
                copy = (entry.uidvalidity, entry.modseq, entry.uids[:], entry.flags[:])
                taken.append((folder_id, entry, entry.unsaved, copy))
        written = 0
        for folder_id, entry, unsaved, (uidvalidity, modseq, uids, texts) in taken:
            data = await asyncio.to_thread(summary_store.encode, uids, texts)
            if await self._save(folder_id, uidvalidity, modseq, data, uids):
                written += 1
                entry.saved = modseq
                entry.unsaved -= unsaved
        return written

    async def close(self) -> None:
        """Stop the background saver and save what is due."""
        self._closed = True
        saver, self._saver = self._saver, None
        if saver is not None and not saver.done():
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
        with contextlib.suppress(DBAPIError, OSError):
            await self.save_due()

    async def _save(
        self, folder_id: int, uidvalidity: int, modseq: int, data: bytes, uids: Any
    ) -> bool:
        try:
            async with begin_write(self._engine) as conn:
                replace = folder_id in self._replace
                done = await summary_store.save(
                    conn, folder_id, uidvalidity, modseq, data, len(uids), replace=replace
                )
        except IntegrityError:  # the folder was deleted meanwhile
            return False
        self._replace.discard(folder_id)
        return done

    async def _saved_entry(
        self, conn: AsyncConnection, folder: Folder, expunged: int
    ) -> FolderEntry | None:
        """The folder's entry from its saved state, caught up; None if there is none usable."""
        try:
            state = await summary_store.load(conn, folder.id)
        except summary_store.UnreadableState:
            self._replace.add(folder.id)
            return None
        if (
            state is None
            or state.uidvalidity != folder.uidvalidity
            or expunged > state.modseq
            or state.modseq > folder.highest_modseq
        ):
            return None
        entry = FolderEntry.from_runs(folder.uidvalidity, state.modseq, state.uids, state.runs)
        entry.saved, entry.expunged = state.modseq, expunged
        return entry if await _catch_up(conn, entry, folder) else None

    def _note(self, folder_id: int, entry: FolderEntry) -> None:
        """Save ``entry`` soon if it is due."""
        if self._closed or not entry.save_due(self._save_min):
            return
        self._due.add(folder_id)
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(
                self._save_later(), name="mailbox-store-summary-saver"
            )

    async def _save_later(self) -> None:
        while self._due and not self._closed:
            await asyncio.sleep(self._save_delay)
            try:
                await self.save_due()
            except (DBAPIError, OSError):  # busy or gone: the next change tries again
                log.warning("saving folder summaries failed", exc_info=True)


async def _catch_up(conn: AsyncConnection, entry: FolderEntry, folder: Folder) -> bool:
    """Bring ``entry`` to the folder's MODSEQ; False if it cannot be (drop it)."""
    if entry.modseq < folder.highest_modseq:
        changed = await sql_reads.fetch(conn, sql_reads.uid_flags(folder.id, entry.modseq))
        if not entry.apply(changed):
            return False
        entry.modseq = folder.highest_modseq
    return True
