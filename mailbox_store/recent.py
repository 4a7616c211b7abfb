"""RFC 3501 §2.3.2 \\Recent for the SQL store: which session is the first to see a message.

Each folder has a mark, the first UID not yet claimed: a session that selects the folder (or
learns of new messages) claims the UIDs from the mark up to what it knows (``until``: the
folder's UIDNEXT in its snapshot) and moves the mark there, so the next claim sees none of them.

Two ways of keeping the mark:

``NodeRecentMarks`` (SQLite, the embedded default: one process serves the database file) keeps
it in memory, claimed without any database write, so SELECT never waits for the write lock that
group commit holds (issue 3: mixed workload). The mark is read from ``mbx_folders.recent_uid``
at the node's first claim of a folder and written back in the background (``persist_delay``
seconds later, in one transaction for every folder claimed meanwhile, and at ``close``): after a
restart, messages already claimed are not \\Recent again; after a crash, those claimed during the
last ``persist_delay`` seconds may be shown \\Recent once more (RFC 9051 dropped \\Recent).
Within the process the claims are exact: every message is \\Recent in exactly one session.

``DatabaseRecentMarks`` (PostgreSQL, several nodes) claims in one short transaction holding the
folder row (``FOR UPDATE``), exact across nodes; PostgreSQL locks the row, not the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.dialect import begin_write, is_sqlite
from mailbox_store.errors import UnknownFolder
from mailbox_store.tables import folders

log = logging.getLogger(__name__)

PERSIST_DELAY = 1.0  # seconds between a claim and the writing of the folder's mark


class RecentMarks(Protocol):
    async def claim(self, folder_id: int, until: int | None = None) -> int:
        """The first UID recent for the caller; UIDs below ``until`` (default: the folder's
        UIDNEXT now) are claimed."""
        ...

    async def close(self) -> None: ...


def recent_marks(engine: AsyncEngine, persist_delay: float = PERSIST_DELAY) -> RecentMarks:
    """In memory on SQLite (one process), in the database on PostgreSQL (several nodes)."""
    if is_sqlite(engine):
        return NodeRecentMarks(engine, persist_delay)
    return DatabaseRecentMarks(engine)


class DatabaseRecentMarks:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, folder_id: int, until: int | None = None) -> int:
        async with begin_write(self._engine) as conn:
            query = select(folders.c.recent_uid, folders.c.uidnext).where(folders.c.id == folder_id)
            row = (await conn.execute(query.with_for_update())).first()
            if row is None:
                raise UnknownFolder(f"folder {folder_id}")
            first = int(row.recent_uid)
            end = int(row.uidnext) if until is None else until
            if end > first:
                await conn.execute(
                    update(folders).where(folders.c.id == folder_id).values(recent_uid=end)
                )
        return first

    async def close(self) -> None:
        return None


class NodeRecentMarks:
    def __init__(self, engine: AsyncEngine, persist_delay: float = PERSIST_DELAY) -> None:
        self._engine = engine
        self._delay = persist_delay
        self._marks: dict[int, int] = {}  # folder id -> first UID not claimed
        self._unsaved: dict[int, int] = {}  # marks not yet written
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def claim(self, folder_id: int, until: int | None = None) -> int:
        if until is None or folder_id not in self._marks:
            query = select(folders.c.recent_uid, folders.c.uidnext).where(folders.c.id == folder_id)
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                raise UnknownFolder(f"folder {folder_id}")
            # No await from here on: claims of one process are taken one at a time.
            mark = max(self._marks.get(folder_id, 1), int(row.recent_uid))
            end = int(row.uidnext) if until is None else until
        else:
            mark, end = self._marks[folder_id], until
        self._marks[folder_id] = max(mark, end)
        if end > mark:
            self._unsaved[folder_id] = end
            self._write_later()
        return mark

    async def flush(self) -> None:
        """Write the marks claimed since the last write (never moving one back)."""
        unsaved, self._unsaved = self._unsaved, {}
        if not unsaved:
            return
        try:
            async with begin_write(self._engine) as conn:
                for folder_id, mark in sorted(unsaved.items()):
                    await conn.execute(
                        update(folders)
                        .where(folders.c.id == folder_id, folders.c.recent_uid < mark)
                        .values(recent_uid=mark)
                    )
        except BaseException:
            for folder_id, mark in unsaved.items():  # written with the next ones
                self._unsaved[folder_id] = max(mark, self._unsaved.get(folder_id, 0))
            raise

    async def close(self) -> None:
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        with contextlib.suppress(DBAPIError, OSError):
            await self.flush()

    def _write_later(self) -> None:
        if self._closed or (self._writer is not None and not self._writer.done()):
            return
        self._writer = asyncio.get_running_loop().create_task(
            self._write_loop(), name="mailbox-store-recent-marks"
        )

    async def _write_loop(self) -> None:
        while self._unsaved and not self._closed:
            await asyncio.sleep(self._delay)
            try:
                await self.flush()
            except (DBAPIError, OSError):  # busy: kept for the next round
                log.warning("writing \\Recent marks failed", exc_info=True)
