"""Saved columns of the SEARCH header index (issue 3: the first header SEARCH after a restart).

Building a column of a 100,000-message folder means opening every header section (about a
second of CPU). Messages never change, so a column stays true for the messages it holds: it is
saved (``MailboxStore.save_search_snapshot``: compressed and sealed by the store, nothing in
clear on disk) and a node that starts loads it (one row, one decryption) and reads only the
headers of the messages above its ``max_uid``.

Encoding of one column (loads with C-speed slicing and one ``str.split``)::

    version (1) | kind (1: text, 2: days) | count (8) | UIDs (8 * count, int64 LE) | values

``values``: text columns, the UTF-8 entries each ended by ``search_index.END``; the DATE
column, the day ordinals (8 * count, int64 LE). A column saved holds every message of the
folder up to its ``max_uid`` but those known expunged then (UIDs are committed in ascending
order, so a UID at or below the highest of the folder's current UIDs and not among them is
gone for good): a message of a loaded column that is missing from it was expunged.

Saves run in the background, never on a command's path: after a search that built a column or
grew it by ``imap.search_index_save_every`` messages (or 5 % of the folder if fewer, and at
least ``SAVE_MIN``).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import sys
from array import array
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Folder, SearchSnapshot
from mss.imap import search_index as si

log = logging.getLogger(__name__)

VERSION = 1
TEXT, DAYS = 1, 2
SAVE_EVERY = 1000  # default of ``imap.search_index_save_every``
SAVE_MIN = 500  # below this, a column is cheap to build and never saved
_HEAD = struct.Struct("<BBQ")
_TASKS: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class Loaded:
    """A saved column, decoded: its entries as one ``Parsed`` part, and its ``max_uid``."""

    name: str
    max_uid: int
    part: si.Parsed


def encode(name: str, uids: Sequence[int], values: Sequence[str | int]) -> bytes:
    """One column: ``values`` (texts, or days for ``DATE``) aligned with ``uids``."""
    if name == si.DATE:
        body, kind = _le(array("q", (int(v) for v in values))), DAYS
    else:
        text = "".join(f"{v}{si.END}" for v in values)
        body, kind = text.encode("utf-8", "surrogatepass"), TEXT  # any str, even a lone surrogate
    return _HEAD.pack(VERSION, kind, len(uids)) + _le(array("q", uids)) + body


def decode(name: str, data: bytes) -> si.Parsed | None:
    """The entries of an encoded column; None if it is not one this version reads or it does
    not add up (the column is then built from the headers)."""
    try:
        version, kind, count = _HEAD.unpack_from(data)
    except struct.error:
        return None
    start = _HEAD.size + 8 * count
    if version != VERSION or kind != (DAYS if name == si.DATE else TEXT) or len(data) < start:
        return None
    uids = array("q", data[_HEAD.size : start])
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian
        uids.byteswap()
    if kind == DAYS:
        days = array("q", data[start:])
        if sys.byteorder == "big":  # pragma: no cover
            days.byteswap()
        if len(days) != count:
            return None
        return si.Parsed(uids.tolist(), days.tolist(), {})
    try:
        texts = data[start:].decode("utf-8", "surrogatepass").split(si.END)
    except UnicodeDecodeError:
        return None
    if len(texts) != count + 1 or texts[-1]:
        return None
    texts.pop()
    return si.Parsed(uids.tolist(), None, {name: texts})


def _le(values: array[int]) -> bytes:
    """Little-endian bytes of a (fresh) array."""
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian
        values.byteswap()
    return values.tobytes()


async def load(store: MailboxStore, folder: Folder, fields: Collection[str]) -> dict[str, Loaded]:
    """The saved columns ``fields`` of ``folder`` that can be read, decoded off the loop."""
    saved = await store.load_search_snapshots(folder.id, folder.uidvalidity, fields)
    if not saved:
        return {}
    decoded = await asyncio.to_thread(_decode_all, saved)
    return {name: d for name, d in decoded.items() if d is not None}


def _decode_all(saved: Mapping[str, SearchSnapshot]) -> dict[str, Loaded | None]:
    found: dict[str, Loaded | None] = {}
    for name, snapshot in saved.items():
        part = decode(name, snapshot.data)
        found[name] = None if part is None else Loaded(name, snapshot.max_uid, part)
    return found


def install(index: si.FolderIndex, loaded: Mapping[str, Loaded]) -> dict[str, Loaded]:
    """Put the loaded columns that cover every message of ``index`` into it (an empty index
    takes the UIDs of the most recent one); return those saved before its last message (their
    messages above their ``max_uid`` are to be read from the headers)."""
    if not loaded:
        return {}
    if not index.uids:
        base = max(loaded.values(), key=lambda c: c.max_uid)
        index.uids.extend(base.part.uids)
    behind = {}
    for name, column in loaded.items():
        if column.max_uid >= index.max_uid:
            index.add_columns([column.part], frozenset({name}))
            index.saved[name] = len(index.uids)
        else:
            behind[name] = column
    return behind


def due(index: si.FolderIndex, every: int = SAVE_EVERY) -> list[str]:
    """The columns of ``index`` worth saving now: grown by ``every`` messages (or 5 % of the
    folder if fewer, at least ``SAVE_MIN``) since last saved; none if ``every`` is 0."""
    if not every:
        return []
    size = len(index.uids)
    threshold = min(every, max(SAVE_MIN, size // 20))
    return sorted(n for n in index.built() if size - index.saved.get(n, 0) >= threshold)


def save_soon(
    store: MailboxStore,
    folder: Folder,
    index: si.FolderIndex,
    present: Collection[int],
    every: int = SAVE_EVERY,
) -> None:
    """Save the columns ``due`` in the background (one save at a time per index), never on a
    command's path. ``present``: the folder's current UIDs (to leave out those expunged)."""
    save_now(store, folder, index, present, due(index, every))


def save_now(
    store: MailboxStore,
    folder: Folder,
    index: si.FolderIndex,
    present: Collection[int],
    names: Collection[str],
) -> asyncio.Task[None] | None:
    """Save the columns ``names`` of ``index`` as they are now, in a task (None if there is
    nothing to save or a save of this index is under way)."""
    if not names or index.saving:
        return None
    index.saving = True
    captured = [(name, *_capture(index, name)) for name in names]
    for name in names:
        index.saved[name] = len(index.uids)
    task = asyncio.create_task(_save(store, folder, index, captured, present))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


def _capture(index: si.FolderIndex, name: str) -> tuple[array[int], list[str] | array[int]]:
    """A copy of a column as it is now (on the loop; the texts are immutable strings)."""
    if name == si.DATE:
        return array("q", index.uids), array("q", index.sent or ())
    return array("q", index.uids), [segment.joined for segment in index.columns[name]]


def _encode_captured(
    name: str, uids: array[int], values: list[str] | array[int], present: Collection[int]
) -> tuple[int, bytes]:
    """``(max_uid, encoded column)`` without the messages known expunged (CPU: in a thread)."""
    live = set(present)
    top = max(live, default=0)
    keep = [i for i, uid in enumerate(uids) if uid > top or uid in live]
    if len(keep) == len(uids) and not isinstance(values, array):
        # Nothing to leave out: the segments are already the encoded entries (no split).
        text = "".join(values).encode("utf-8", "surrogatepass")
        head = _HEAD.pack(VERSION, TEXT, len(uids)) + _le(array("q", uids))
        return (uids[-1] if uids else 0), head + text
    entries: Sequence[str | int]
    entries = values if isinstance(values, array) else "".join(values).split(si.END)[:-1]
    if len(keep) != len(uids):
        uids = array("q", (uids[i] for i in keep))
        entries = [entries[i] for i in keep]
    return (uids[-1] if uids else 0), encode(name, uids, entries)


async def _save(
    store: MailboxStore,
    folder: Folder,
    index: si.FolderIndex,
    captured: list[tuple[str, array[int], list[str] | array[int]]],
    present: Collection[int],
) -> None:
    try:
        for name, uids, values in captured:
            max_uid, data = await asyncio.to_thread(_encode_captured, name, uids, values, present)
            if max_uid:
                snapshot = SearchSnapshot(name, folder.uidvalidity, max_uid, data)
                await store.save_search_snapshot(folder.id, snapshot)
                log.debug(
                    "search index saved folder=%d field=%s bytes=%d", folder.id, name, len(data)
                )
    except Exception:  # a failed save only costs the next start a rebuild
        log.warning("search index not saved folder=%d", folder.id, exc_info=True)
    finally:
        index.saving = False


async def drain() -> None:
    """Wait for the saves under way on this event loop (tests, a clean stop)."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _TASKS if task.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)
