"""Persisted SEARCH index columns (issue 3: a cold header SEARCH under a second).

The IMAP layer's header index (``mss.imap.search_index``) builds, per folder and header field, a
*column*: the folded text of that field for each message. Messages never change, so a column
stays true forever for the messages it holds (those expunged since are simply not asked
about); a node that starts loads it in one row and one decryption instead of opening every
header section of the folder, and catches up above its ``max_uid``.

The store only keeps the bytes the index encodes: compressed (zlib level 1, the text compresses
well) then sealed with the blob key ring (AES-256-GCM, the key id inside, like every blob: a key
rotation leaves older snapshots readable), bound to ``search:<folder>:<field>:<uidvalidity>:
<max_uid>`` so a row moved to another folder, field or UIDVALIDITY fails authentication. Header
text is health data: without a key ring nothing is saved (nothing decrypted ever reaches the
disk). A snapshot of another UIDVALIDITY is never returned and the next save replaces it; the
folder's deletion removes its snapshots (cascade).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncIterator, Collection

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import KeyRing, Opener, seal
from mailbox_store.dialect import begin_write, insert_ignore
from mailbox_store.errors import BlobError
from mailbox_store.models import Folder, SearchSnapshot
from mailbox_store.sql_rows import folder_of
from mailbox_store.tables import folders, search_snapshots

_LEVEL = 1  # zlib: fast, and most of the gain on folded header text
_LOCK_SPACE = 0x53E4  # first key of the advisory locks of SEARCH index builds (PostgreSQL)


def blob_id(folder_id: int, field: str, uidvalidity: int, max_uid: int) -> str:
    """What a snapshot is bound to (the associated data of its seal)."""
    return f"search:{folder_id}:{field}:{uidvalidity}:{max_uid}"


def pack(keyring: KeyRing, folder_id: int, snapshot: SearchSnapshot) -> bytes:
    """Compressed then sealed (CPU only: run in a thread)."""
    bound = blob_id(folder_id, snapshot.field, snapshot.uidvalidity, snapshot.max_uid)
    return seal(keyring, bound, zlib.compress(snapshot.data, _LEVEL))


def unpack(opener: Opener, folder_id: int, row: SearchSnapshot) -> SearchSnapshot | None:
    """The snapshot of a stored row (``data`` sealed), or None if it cannot be read (tampered,
    unknown key, corrupt): the index is then built from the headers."""
    bound = blob_id(folder_id, row.field, row.uidvalidity, row.max_uid)
    try:
        data = zlib.decompress(opener.open(bound, row.data))
    except (BlobError, zlib.error):
        return None
    return SearchSnapshot(row.field, row.uidvalidity, row.max_uid, data)


class SqlSearchSnapshots:
    """The ``mbx_search_snapshots`` rows of a store, sealed with its key ring."""

    def __init__(self, engine: AsyncEngine, keyring: KeyRing | None) -> None:
        self._engine = engine
        self._keyring = keyring
        self._opener = None if keyring is None else Opener(keyring)

    async def load(
        self, folder_id: int, uidvalidity: int, fields: Collection[str]
    ) -> dict[str, SearchSnapshot]:
        """The saved columns ``fields`` of a folder of this UIDVALIDITY (those readable)."""
        opener = self._opener
        if opener is None or not fields:
            return {}
        table = search_snapshots.c
        query = select(table.field, table.uidvalidity, table.max_uid, table.content).where(
            table.folder_id == folder_id,
            table.uidvalidity == uidvalidity,
            table.field.in_(sorted(fields)),
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        stored = [
            SearchSnapshot(r.field, int(r.uidvalidity), int(r.max_uid), r.content) for r in rows
        ]
        opened = await asyncio.to_thread(lambda: [unpack(opener, folder_id, row) for row in stored])
        return {s.field: s for s in opened if s is not None}

    async def save(self, folder_id: int, snapshot: SearchSnapshot) -> bool:
        """Keep ``snapshot`` unless one of the same UIDVALIDITY and a greater or equal
        ``max_uid`` is saved; True if written. False too when the folder is gone or there
        is no key ring."""
        keyring = self._keyring
        if keyring is None:
            return False
        content = await asyncio.to_thread(pack, keyring, folder_id, snapshot)
        values = {
            "uidvalidity": snapshot.uidvalidity,
            "max_uid": snapshot.max_uid,
            "content": content,
        }
        table = search_snapshots.c
        try:
            async with begin_write(self._engine) as conn:
                inserted = await conn.execute(
                    insert_ignore(conn, search_snapshots).values(
                        folder_id=folder_id, field=snapshot.field, **values
                    )
                )
                if inserted.rowcount:
                    return True
                query = (
                    update(search_snapshots)
                    .where(table.folder_id == folder_id, table.field == snapshot.field)
                    .where(
                        (table.max_uid < snapshot.max_uid)
                        | (table.uidvalidity != snapshot.uidvalidity)
                    )
                )
                return bool((await conn.execute(query.values(values))).rowcount)
        except IntegrityError:  # the folder was deleted meanwhile
            return False

    async def lag(
        self, fields: Collection[str], min_uid: int
    ) -> list[tuple[Folder, dict[str, int]]]:
        """Folders with ``uidnext`` above ``min_uid`` and the ``max_uid`` of their saved
        columns ``fields`` (of the folder's UIDVALIDITY): one read, no content."""
        snap = search_snapshots.c
        joined = folders.outerjoin(
            search_snapshots,
            and_(
                snap.folder_id == folders.c.id,
                snap.uidvalidity == folders.c.uidvalidity,
                snap.field.in_(sorted(fields)),
            ),
        )
        query = (
            select(folders, snap.field.label("snap_field"), snap.max_uid.label("snap_max_uid"))
            .select_from(joined)
            .where(folders.c.uidnext > min_uid)
            .order_by(folders.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[int, tuple[Folder, dict[str, int]]] = {}
        for row in rows:
            entry = found.get(row.id)
            if entry is None:
                entry = found[row.id] = (folder_of(row), {})
            if row.snap_field is not None:
                entry[1][row.snap_field] = int(row.snap_max_uid)
        return list(found.values())

    @contextlib.asynccontextmanager
    async def claim_build(self, folder_id: int) -> AsyncIterator[bool]:
        """True if this node may build the folder's columns now: on PostgreSQL a transaction
        advisory lock held (one connection) until the block ends; elsewhere always True."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        async with self._engine.connect() as conn:
            lock = func.pg_try_advisory_xact_lock(_LOCK_SPACE, folder_id)
            got = bool((await conn.execute(select(lock))).scalar())
            try:
                yield got
            finally:
                await conn.rollback()  # releases the lock
