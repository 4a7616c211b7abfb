"""SELECT summaries of large folders, kept up to date from the folder's MODSEQ (RFC 7162).

A summary (every UID, the unseen count, the first unseen UID, the flags in use) needs every
message of the folder: 100,000 rows for a big mailbox, read again at each SELECT. This cache
keeps, per folder, the UIDs and the flag text of each message as of a MODSEQ, and brings them
up to date with the messages whose MODSEQ is greater (deliveries, COPY/MOVE into the folder and
flag changes all give the messages they touch a new MODSEQ), which the ``(folder_id, modseq)``
index finds at once. Removals leave no row behind, so the folder's ``expunged_modseq`` tells
when the cache has missed one: then, as for a folder not cached, everything is read again.

The database stays the source of truth: every call compares with the folder row it has just
read, so a change made by another node sharing the database is seen like a local one. Entries
are bounded by their total number of UIDs and their number (least recently used first out).

Folders this node creates get an empty entry, and this node's deliveries are added to the entry
of their folder when it is exactly one change behind (``added``): a folder that only ever
received mail here is never read whole, even at its first SELECT.
"""

from __future__ import annotations

import asyncio
import weakref
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence

from mailbox_store.logic import SEEN
from mailbox_store.models import Folder, FolderSummary

DEFAULT_MAX_UIDS = 2_000_000  # about 32 MB of UIDs and flag references in all
MAX_ENTRIES = 20_000  # folders (an empty entry costs about 1 KB)


class FolderEntry:
    """The messages of one folder as of ``modseq``: UIDs ascending, flag text alongside."""

    def __init__(
        self, uidvalidity: int, modseq: int, uids: array[int], texts: Sequence[str]
    ) -> None:
        """``uids`` ascending and the flag text of each (as stored)."""
        self.uidvalidity = uidvalidity
        self.modseq = modseq
        self._parsed: dict[str, tuple[str, bool, tuple[str, ...]]] = {}
        canonical = {text: self._intern(text) for text in set(texts)}
        self.uids = uids
        self.flags = list(map(canonical.__getitem__, texts))  # one string per distinct text
        self._counts = Counter(self.flags)  # messages per distinct flag text
        self._first_hint = 0  # no unseen message before this index
        # Persistence (``summary_store``): the MODSEQ of the state saved in the database (None:
        # none known), the last removal this entry knows of (a saved state older than it cannot
        # be used), and the messages changed since the saved state (what a loader catches up).
        self.saved: int | None = None
        self.expunged = 0
        self.unsaved = len(uids)

    @classmethod
    def from_runs(
        cls, uidvalidity: int, modseq: int, uids: array[int], runs: Sequence[tuple[str, int]]
    ) -> FolderEntry:
        """An entry from ``uids`` and runs ``(flag text, how many in a row)`` of their flag
        texts (``summary_store``): built run by run, not message by message."""
        entry = cls(uidvalidity, modseq, array("q"), [])
        flags, counts = entry.flags, entry._counts
        for text, length in runs:
            text = entry._intern(text)
            flags.extend([text] * length)
            counts[text] += length
        entry.uids = uids
        entry.unsaved = 0
        return entry

    def apply(self, rows: Iterable[tuple[int, str]]) -> bool:
        """Add or update messages from ``(uid, flags)`` rows in UID order; False if a row is
        neither new (above every UID) nor known: the entry is then unusable."""
        uids, flags, counts = self.uids, self.flags, self._counts
        for uid, text in rows:
            self.unsaved += 1
            text = self._intern(text)
            counts[text] += 1
            if not uids or uid > uids[-1]:
                uids.append(uid)
                flags.append(text)
                continue
            index = bisect_left(uids, uid)
            if index == len(uids) or uids[index] != uid:
                return False
            counts[flags[index]] -= 1
            flags[index] = text
            if not self._parsed[text][1]:
                self._first_hint = min(self._first_hint, index)
        return True

    def remove(self, uids: Sequence[int]) -> None:
        """Forget the messages ``uids`` (ascending; those unknown are ignored)."""
        self.unsaved += len(uids)
        if len(uids) > 64:
            gone = set(uids)
            keep = [i for i, uid in enumerate(self.uids) if uid not in gone]
            for index in range(len(self.uids)):
                if self.uids[index] in gone:
                    self._counts[self.flags[index]] -= 1
            self.uids = array("q", (self.uids[i] for i in keep))
            self.flags = [self.flags[i] for i in keep]
        else:
            for uid in reversed(uids):
                index = bisect_left(self.uids, uid)
                if index < len(self.uids) and self.uids[index] == uid:
                    self._counts[self.flags[index]] -= 1
                    del self.uids[index]
                    del self.flags[index]
        self._first_hint = 0

    def save_due(self, min_messages: int) -> bool:
        """Worth saving: a large folder whose saved state is missing, unusable (a removal
        since) or far behind (catching up would read many messages)."""
        if len(self.uids) < min_messages:
            return False
        if self.saved is None or self.expunged > self.saved:
            return True
        return self.unsaved >= max(min_messages, len(self.uids) // 10)

    def summary(self, folder: Folder) -> FolderSummary:
        unseen, in_use = 0, set[str]()
        for text, count in self._counts.items():
            if count > 0:
                _, seen, parsed = self._parsed[text]
                unseen += 0 if seen else count
                in_use.update(parsed)
        first = self._first_unseen() if unseen else None
        return FolderSummary(folder, self.uids[:], unseen, first, frozenset(in_use), self.flags[:])

    def _intern(self, text: str) -> str:
        """One string per distinct flag text (memory), parsed once."""
        known = self._parsed.get(text)
        if known is None:
            parsed = tuple(text.split())
            known = self._parsed[text] = (text, SEEN in parsed, parsed)
        return known[0]

    def _first_unseen(self) -> int | None:
        parsed, flags = self._parsed, self.flags
        for index in range(self._first_hint, len(flags)):
            if not parsed[flags[index]][1]:
                self._first_hint = index
                uid: int = self.uids[index]
                return uid
        return None  # pragma: no cover - only called with an unseen message


class SummaryCache:
    def __init__(self, max_uids: int = DEFAULT_MAX_UIDS, max_entries: int = MAX_ENTRIES) -> None:
        self._max_uids = max_uids
        self._max_entries = max_entries
        self._entries: OrderedDict[int, FolderEntry] = OrderedDict()
        # Alive while some call holds or waits for it: no lock left behind per folder ever seen.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, folder_id: int) -> asyncio.Lock:
        """Held while a folder's entry is read and brought up to date (one at a time)."""
        lock = self._locks.get(folder_id)
        if lock is None:
            lock = self._locks[folder_id] = asyncio.Lock()
        return lock

    def get(self, folder: Folder, expunged_modseq: int) -> FolderEntry | None:
        """The entry of ``folder`` if it can be brought up to date from its MODSEQ."""
        entry = self._entries.get(folder.id)
        if entry is None:
            return None
        if (
            entry.uidvalidity != folder.uidvalidity
            or expunged_modseq > entry.modseq
            or folder.highest_modseq < entry.modseq
        ):
            self.drop(folder.id)
            return None
        self._entries.move_to_end(folder.id)
        return entry

    def peek(self, folder_id: int) -> FolderEntry | None:
        """The entry of a folder as it is (not checked against the database)."""
        return self._entries.get(folder_id)

    def put(self, folder_id: int, entry: FolderEntry) -> None:
        self._entries[folder_id] = entry
        self._entries.move_to_end(folder_id)
        total = sum(len(e.uids) for e in self._entries.values())
        while (total > self._max_uids or len(self._entries) > self._max_entries) and len(
            self._entries
        ) > 1:
            _, evicted = self._entries.popitem(last=False)
            total -= len(evicted.uids)

    def created(self, folder: Folder) -> None:
        """This node created ``folder`` (empty): its entry starts now, with nothing to read."""
        if folder.id not in self._entries:
            self.put(
                folder.id, FolderEntry(folder.uidvalidity, folder.highest_modseq, array("q"), [])
            )

    def added(self, folder_id: int, uid: int, flags: str, modseq: int) -> None:
        """This node filed message ``uid`` (flags as stored), the folder's change ``modseq``:
        an entry exactly one change behind takes it. Not while a ``summary`` of the folder
        is reading it (that one then reads the change from the database)."""
        entry = self._entries.get(folder_id)
        if entry is None or entry.modseq != modseq - 1 or folder_id in self._locks:
            return
        if entry.apply(((uid, flags),)):
            entry.modseq = modseq
        else:
            self.drop(folder_id)

    def removed(self, folder_id: int, uids: Sequence[int], modseq: int) -> None:
        """This node removed ``uids`` at ``modseq``: an entry exactly one change behind
        follows (no re-read after an EXPUNGE); any other is left to ``expunged_modseq``."""
        entry = self._entries.get(folder_id)
        if entry is not None and entry.modseq == modseq - 1:
            entry.remove(uids)
            entry.modseq = entry.expunged = modseq

    def drop(self, folder_id: int) -> None:
        self._entries.pop(folder_id, None)
