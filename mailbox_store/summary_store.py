"""Persisted SELECT summaries of large folders (issue 3: the first SELECT after a restart).

``summary_cache`` keeps each folder's UIDs and flag texts in memory; a node that starts has none
and would read a 100,000-message folder whole (about 170 ms on SQLite) at its first SELECT. This
module keeps a compact copy of a cache entry in the database (``mbx_folder_states``, so every
node sharing it benefits; no side file): the UIDs as 32-bit gaps, the flag text of each as an
index into the folder's distinct texts, compressed (a few KB for 100,000 messages). It holds no
health content: UIDs and flags only.

A saved state is what the folder held at its ``modseq``. It is used only under the rules of a
cache entry (``SummaryCache.get``): same UIDVALIDITY, no removal since (the folder's
``expunged_modseq`` not above it), not ahead of the folder; the loader then catches up with
the messages whose MODSEQ is greater, like any entry. A stale state is never wrong, only older;
one that cannot be used is ignored and the folder read whole. States are written lazily by the
store (after a whole read, after removals, after many changes, at close), never on the path of
a command, and never replaced by an older one.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from mailbox_store.dialect import insert_ignore
from mailbox_store.tables import folder_states

VERSION = 1
_HEAD = struct.Struct("<BIIII")  # version, messages, flag runs, distinct texts, bytes of texts
_WIDTH = 8  # bytes of a UID in memory (array "q")


@dataclass(frozen=True, slots=True)
class SavedState:
    uidvalidity: int
    modseq: int
    uids: array[int]
    runs: list[tuple[str, int]]  # flag texts in UID order: (text, how many messages in a row)


def encode(uids: array[int], texts: Sequence[str]) -> bytes:
    """The compressed state of ``uids`` (ascending) and their flag texts.

    The UIDs are stored as their 64-bit little-endian bytes regrouped by position (every
    lowest byte, then every second byte...: long runs of equal bytes that zlib compresses
    to a few KB for 100,000 UIDs); the flag texts as runs ``(text number, count)`` (a folder
    is mostly long runs of the same flags). Both come back with C-speed slicing and list
    extension, not a loop per message."""
    values = array("q", uids)
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian
        values.byteswap()
    raw = values.tobytes()
    planes = b"".join(raw[i::_WIDTH] for i in range(_WIDTH))
    palette: dict[str, int] = {}
    runs = array("I")
    for text, group in groupby(texts):
        runs.extend((palette.setdefault(text, len(palette)), len(list(group))))
    names = "\n".join(palette).encode()  # flags have no white space: "\n" separates texts
    if sys.byteorder == "big":  # pragma: no cover
        runs.byteswap()
    head = _HEAD.pack(VERSION, len(uids), len(runs) // 2, len(palette), len(names))
    return zlib.compress(head + names + planes + runs.tobytes(), 1)


def decode(data: bytes) -> tuple[array[int], list[tuple[str, int]]] | None:
    """``(uids, flag text runs)`` of an encoded state; None if it is not one this version
    reads or it does not add up."""
    try:
        raw = zlib.decompress(data)
        version, count, run_count, distinct, size = _HEAD.unpack_from(raw)
    except (zlib.error, struct.error):
        return None
    start = _HEAD.size + size
    middle = start + _WIDTH * count
    if version != VERSION or len(raw) != middle + 8 * run_count:
        return None
    palette = raw[_HEAD.size : start].decode().split("\n") if distinct else []
    interleaved = bytearray(_WIDTH * count)
    for i in range(_WIDTH):
        interleaved[i::_WIDTH] = raw[start + i * count : start + (i + 1) * count]
    uids = array("q")
    uids.frombytes(interleaved)
    runs = array("I", raw[middle:])
    if sys.byteorder == "big":  # pragma: no cover
        uids.byteswap()
        runs.byteswap()
    numbers, lengths = runs[::2], runs[1::2]
    if len(palette) != distinct or sum(lengths) != count or (numbers and max(numbers) >= distinct):
        return None
    return uids, [(palette[n], length) for n, length in zip(numbers, lengths, strict=True)]


class UnreadableState(Exception):
    """A saved state this version cannot read (to be replaced by the next save)."""


async def load(conn: AsyncConnection, folder_id: int) -> SavedState | None:
    """The saved state of a folder, if any; ``UnreadableState``."""
    query = select(folder_states.c.uidvalidity, folder_states.c.modseq, folder_states.c.data).where(
        folder_states.c.folder_id == folder_id
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    decoded = decode(row.data)
    if decoded is None:
        raise UnreadableState(f"folder {folder_id}")
    return SavedState(int(row.uidvalidity), int(row.modseq), *decoded)


async def save(
    conn: AsyncConnection,
    folder_id: int,
    uidvalidity: int,
    modseq: int,
    data: bytes,
    count: int,
    *,
    replace: bool = False,
) -> bool:
    """Keep this state of the folder unless a newer one is saved (``replace``: whatever is
    saved, e.g. unreadable); True if written. ``conn`` in a write transaction;
    ``IntegrityError`` if the folder is gone."""
    values = {"uidvalidity": uidvalidity, "modseq": modseq, "messages": count, "data": data}
    inserted = await conn.execute(
        insert_ignore(conn, folder_states).values(folder_id=folder_id, **values)
    )
    if inserted.rowcount:
        return True
    query = update(folder_states).where(folder_states.c.folder_id == folder_id)
    if not replace:
        query = query.where(
            (folder_states.c.modseq < modseq) | (folder_states.c.uidvalidity != uidvalidity)
        )
    done = await conn.execute(query.values(values))
    return bool(done.rowcount)
