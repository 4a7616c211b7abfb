"""The background indexer of SEARCH header columns (issue 3: a first header SEARCH under 1 s).

A folder never searched pays the whole build of its header index (``search_index``) on its
first search: about 1.2 s of CPU for 100,000 messages (opening every header section, then
parsing). A client that bulk-loads a folder (APPEND, delivery) and searches right away would
wait that long. This job builds the most searched columns (``WARM_FIELDS``: what the usual
clients' quick filters and "find this Message-ID" ask; CC, the rest, built by the first search
that needs it) ahead, every ``interval`` seconds:

- It finds work cheaply: one store read (``MailboxStore.search_snapshot_lag``) of the folders
  with ``SAVE_MIN`` messages or more and the ``max_uid`` of their saved columns; a folder is
  worked on when its newest messages are ``search_persist.due``-many (the search's save
  threshold) ahead of both its saved columns and the index in memory. A folder is not looked
  at again until it gets new messages (nothing to gain: no key ring, messages expunged).
- It never blocks commands: headers are read in small batches (``READ_BATCH``, opened on the
  loop: ~1 ms each) and parsed on the loop in slices (``PARSE_SLICE``, ~1 ms), yielding in
  between; a missing column is built in a *shadow* index that only this job sees (as the
  headers are read; or, when saved columns are to be completed, aligned in a thread), then put
  in place in one step. It holds the folder index's lock while it
  works: a search arriving meanwhile waits for this build and joins it (then reads only what
  came after) instead of reading every header a second time.
- It saves the columns (sealed by the store, ``search_persist``) when the folder stops growing
  (no new message since the previous pass) or has doubled since last saved: a bulk load costs
  a few saves, not one per ``imap.search_index_save_every`` messages.
- Multi-node: ``MailboxStore.claim_search_build`` (a PostgreSQL advisory lock per folder)
  lets one node build a folder; the others see its saved columns and load them when searched.

Nothing decrypted is written nor logged (SEC-IN-3): counts and folder ids only.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass

from config import ImapSettings
from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Folder
from mss.imap import search_index as si
from mss.imap import search_persist

log = logging.getLogger(__name__)

WARM_FIELDS = frozenset({"subject", "from", "to", "message-id"})
READ_BATCH = 256  # header sections read per step (opened on the loop by the store: ~2 ms)
PARSE_SLICE = 64  # header sections parsed per step on the event loop (~1 ms for 4 columns)
BYTES_PER_MESSAGE = 256  # as the search's guess: folders the cache cannot hold are left out


@dataclass
class WarmerStats:
    """What the job did (tests and benchmarks read it; no content)."""

    passes: int = 0
    folders: int = 0  # folders brought up to date
    headers: int = 0  # header sections read
    saves: int = 0  # columns saved
    skipped_claimed: int = 0  # folders another node was building


class SearchWarmer:
    """Keeps the ``fields`` columns of the big folders of ``store`` built and saved."""

    def __init__(
        self,
        store: MailboxStore,
        settings: ImapSettings,
        *,
        fields: Collection[str] = WARM_FIELDS,
    ) -> None:
        self.store = store
        self.settings = settings
        self.fields = frozenset(fields)
        self.stats = WarmerStats()
        self._previous: dict[int, tuple[int, int]] = {}  # folder: (uidvalidity, top) last pass
        self._handled: dict[int, tuple[int, int]] = {}  # folder: (uidvalidity, top) worked at

    @property
    def cache(self) -> si.IndexCache:
        return si.cache_of(self.store, self.settings.search_index_bytes)

    async def run(self) -> None:
        """Passes every ``imap.search_index_warm_interval`` seconds (the first one interval
        after the start, not to compete with it) until cancelled."""
        while True:
            await asyncio.sleep(self.settings.search_index_warm_interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed pass only leaves the work to the searches
                log.warning("search index warm pass failed", exc_info=True)

    async def run_once(self) -> int:
        """One pass over the folders; the number of folders worked on."""
        self.stats.passes += 1
        limit = self.settings.search_index_bytes
        if not limit:
            return 0
        lagging = await self.store.search_snapshot_lag(self.fields, search_persist.SAVE_MIN)
        known = {folder.id for folder, _ in lagging}  # forget the folders gone since
        self._handled = {k: v for k, v in self._handled.items() if k in known}
        previous, self._previous = self._previous, {}
        worked = 0
        for folder, saved in lagging:
            top = folder.uidnext - 1
            if top * BYTES_PER_MESSAGE > limit:
                continue
            self._previous[folder.id] = (folder.uidvalidity, top)
            before = previous.get(folder.id)
            quiet = before is None or before == (folder.uidvalidity, top)
            plan = self._plan(folder, saved, quiet=quiet)
            if plan is None:
                continue
            try:
                async with self.store.claim_search_build(folder.id) as mine:
                    if not mine:
                        self.stats.skipped_claimed += 1
                        continue
                    await self.warm(folder, save=plan)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the folder deleted meanwhile: the next one
                log.warning("search index not built folder=%d", folder.id, exc_info=True)
                continue
            worked += 1
        return worked

    def _plan(self, folder: Folder, saved: Mapping[str, int], *, quiet: bool) -> bool | None:
        """None: nothing to do; else whether to save after bringing the index up to date."""
        top = folder.uidnext - 1
        if self._handled.get(folder.id) == (folder.uidvalidity, top):
            return None  # nothing new since this job last worked on it
        threshold = _threshold(top, self.settings.search_index_save_every)
        on_disk = min((saved.get(name, 0) for name in self.fields), default=0)
        index = self.cache.peek(folder.account, folder.id, folder.uidvalidity)
        in_memory = index.max_uid if index is not None and self.fields <= index.built() else 0
        save_lag = top - on_disk
        saving = save_lag >= threshold and (quiet or save_lag >= top // 2)
        if top - max(on_disk, in_memory) >= threshold or (saving and index is not None):
            return saving
        return None

    async def warm(self, folder: Folder, *, save: bool = True) -> si.FolderIndex:
        """Bring the folder's index up to date with every ``fields`` column (and those it has
        already); save the columns due when ``save``."""
        cache = self.cache
        index = cache.get(folder.account, folder.id, folder.uidvalidity)
        async with index.lock:
            if index.uids and self.fields <= index.built():
                await self._catch_up(folder, index)
            else:
                await self._rebuild(folder, index)
            self.stats.folders += 1
            task = None
            if save:  # else, still growing: looked at again once quiet
                self._handled[folder.id] = (folder.uidvalidity, folder.uidnext - 1)
                every = self.settings.search_index_save_every or search_persist.SAVE_EVERY
                names = search_persist.due(index, every)
                present = array("q", index.uids)  # a copy: the save reads it in a thread
                task = search_persist.save_now(self.store, folder, index, present, names)
        cache.trim()
        if task is not None:
            self.stats.saves += len(names)
            # One folder at a time: the saves pace the job. Shielded: a stop lets them end
            # (``search_persist.drain``).
            await asyncio.shield(task)
        return index

    async def _catch_up(self, folder: Folder, index: si.FolderIndex) -> None:
        """Index the messages above the last one indexed (small steps on the loop)."""
        top = index.max_uid
        if folder.uidnext - 1 <= top:
            return
        built = index.built()
        uids = range(top + 1, folder.uidnext)
        async for batch in self.store.iter_headers(folder.id, uids, READ_BATCH):
            self.stats.headers += len(batch)
            async for parsed in _sliced(batch, built):
                index.publish(parsed)

    async def _rebuild(self, folder: Folder, index: si.FolderIndex) -> None:
        """Build every column (those the index has too) in a shadow index nobody else sees,
        from the saved columns and the headers above them, then put it in place at once."""
        fields = self.fields | index.built()
        loaded = await search_persist.load(self.store, folder, fields)
        since = 0
        if fields <= loaded.keys():
            since = min(loaded[name].max_uid for name in fields)
        uids = None if not since else range(since + 1, folder.uidnext)
        shadow = si.FolderIndex(folder.uidvalidity)
        if not loaded:  # the usual case: a folder never indexed, built as it is read
            shadow.add_columns([], fields)
        parts: list[si.Parsed] = []
        async for batch in self.store.iter_headers(folder.id, uids, READ_BATCH):
            self.stats.headers += len(batch)
            async for parsed in _sliced(batch, fields):
                if loaded:
                    parts.append(parsed)
                else:
                    shadow.publish(parsed)
        if loaded:  # saved columns to complete: aligned in a thread (nobody sees the shadow)
            shadow = await asyncio.to_thread(compose, folder.uidvalidity, loaded, parts, fields)
        if shadow.max_uid >= index.max_uid:
            index.adopt(shadow)


async def _sliced(
    batch: Sequence[tuple[int, bytes]], fields: frozenset[str]
) -> AsyncIterator[si.Parsed]:
    """``batch`` parsed on the event loop ``PARSE_SLICE`` sections at a time, yielding to the
    other tasks in between (a thread would hold the interpreter lock for up to its switch
    interval, 5 ms, each time the loop wants it back)."""
    for at in range(0, len(batch), PARSE_SLICE):
        yield si.parse(batch[at : at + PARSE_SLICE], fields)
        await asyncio.sleep(0)


def compose(
    uidvalidity: int,
    loaded: Mapping[str, search_persist.Loaded],
    parts: Sequence[si.Parsed],
    fields: frozenset[str],
) -> si.FolderIndex:
    """A new index with the ``fields`` columns: the saved ones (``loaded``), completed with the
    headers read above them (``parts``: every field, UID order). CPU only: run in a thread
    (the index is seen by nobody else meanwhile)."""
    shadow = si.FolderIndex(uidvalidity)
    behind = search_persist.install(shadow, loaded)
    missing = fields - shadow.built()
    if shadow.uids:
        for name in missing:
            base = [behind[name].part] if name in behind else []
            shadow.add_columns([*base, *parts], frozenset({name}))
    else:
        shadow.add_columns([], missing)
    for part in parts:
        shadow.publish(part)
    return shadow


def _threshold(top: int, every: int) -> int:
    """Messages behind that make a folder worth working on (as ``search_persist.due``)."""
    every = every or search_persist.SAVE_EVERY
    return min(every, max(search_persist.SAVE_MIN, top // 20))
