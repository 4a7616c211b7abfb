"""SEARCH and UID SEARCH (RFC 3501 §6.4.4), ESEARCH results (RFC 4731), MODSEQ (RFC 7162 §3.1.5).

A search key is evaluated on sets of UIDs, not message by message: each key narrows the set of
candidates it is given (``_Search.narrow``), the keys of an AND cheapest first, so the costly
keys (header fields, bodies) only look at the messages the cheap ones (flags, sequence sets,
sizes, dates) left. Flags and UIDs come from the folder summary; sizes, internal dates and
MODSEQ from the message records (read only when a key needs them); header fields from the
folder's in-memory index (``search_index``) once it is big enough to pay, else from the header
sections of the candidates; BODY and TEXT from the bodies of the candidates, decoded
(``search_text``).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from mailbox_store.models import Folder, MessageRecord
from mss.imap import search_index, search_persist
from mss.imap.errors import ImapError
from mss.imap.fetching import selected
from mss.imap.messages import compress
from mss.imap.search_text import (
    body_text,
    fold,
    header_matches,
    header_surely_absent,
    sent_date,
    surely_absent,
)
from mss.imap.session import Done
from mss.imap.view import SelectedView
from mss.wire.imap import search as keys
from mss.wire.imap.command import Search
from mss.wire.imap.response import Atom, Code, Data, Untagged, Value

if TYPE_CHECKING:
    from mailbox_store.interfaces import MailboxStore
    from mss.imap.session import Session

CHARSETS = ("UTF-8", "US-ASCII")
HEADER_BATCH = 5000  # header sections per read of a folder-wide scan
BODY_BATCH = 64  # bodies per read of BODY/TEXT
INDEX_MIN = 500  # candidates from which a header key builds the folder's index
_THREAD_BODY = 64 * 1024  # bodies from this size are decoded off the event loop
_INDEX_BYTES_PER_MESSAGE = 256  # a guess, to skip indexing folders the cache cannot hold
_FIELD_OF = {"BCC": "bcc", "CC": "cc", "FROM": "from", "SUBJECT": "subject", "TO": "to"}
_FLAG_OF = {
    "ANSWERED": "\\Answered",
    "DELETED": "\\Deleted",
    "DRAFT": "\\Draft",
    "FLAGGED": "\\Flagged",
    "SEEN": "\\Seen",
}


def _walk(key: keys.SearchKey) -> list[keys.SearchKey]:
    if isinstance(key, keys.And):
        return [key, *(k for child in key.keys for k in _walk(child))]
    if isinstance(key, keys.Or):
        return [key, *_walk(key.left), *_walk(key.right)]
    if isinstance(key, keys.Not):
        return [key, *_walk(key.key)]
    return [key]


def _needs_records(found: list[keys.SearchKey], uses_modseq: bool) -> bool:
    """Whether a key (or the MODSEQ of the answer) needs more than a message's UID and flags."""
    return uses_modseq or any(
        isinstance(k, keys.SizeKey | keys.ModSeqKey)
        or (isinstance(k, keys.DateKey) and not k.name.startswith("SENT"))
        for k in found
    )


def _header_key(key: keys.SearchKey) -> tuple[str, str] | None:
    """``(field name, folded needle)`` of a key on a header field (FROM, HEADER ...)."""
    if isinstance(key, keys.HeaderKey):
        return key.field.lower(), fold(key.value)
    if isinstance(key, keys.StringKey) and key.name in _FIELD_OF:
        return _FIELD_OF[key.name], fold(key.value)
    return None


def _column(key: keys.SearchKey) -> str | None:
    """The index column a key can be answered from, if any."""
    if isinstance(key, keys.DateKey) and key.name.startswith("SENT"):
        return search_index.DATE
    header = _header_key(key)
    return header[0] if header is not None and header[0] in search_index.INDEXED_FIELDS else None


def _cost(key: keys.SearchKey) -> int:
    """Rough cost of a key over a folder: flags and sets, records, headers, bodies."""
    if isinstance(key, keys.And):
        return max(_cost(k) for k in key.keys)
    if isinstance(key, keys.Or):
        return max(_cost(key.left), _cost(key.right))
    if isinstance(key, keys.Not):
        return _cost(key.key)
    if isinstance(key, keys.StringKey) and key.name in ("BODY", "TEXT"):
        return 4
    if _header_key(key) is not None or (
        isinstance(key, keys.DateKey) and key.name.startswith("SENT")
    ):
        return 3
    if isinstance(key, keys.SizeKey | keys.ModSeqKey | keys.DateKey):
        return 1
    return 0


def _compare_day(name: str, day: date, wanted: date) -> bool:
    """BEFORE / ON / SINCE (and SENT...) on days, time and zone disregarded (RFC 3501)."""
    if name.endswith("BEFORE"):
        return day < wanted
    if name.endswith("ON"):
        return day == wanted
    return day >= wanted  # SINCE


@dataclass
class _Catalog:
    """What the cheap keys look at: each message's flags, and its record when needed."""

    flags: dict[int, frozenset[str]]
    records: dict[int, MessageRecord] | None

    def record(self, uid: int) -> MessageRecord:
        if self.records is None:
            raise RuntimeError("message records not loaded")
        return self.records[uid]


@dataclass
class _Search:
    session: Session
    view: SelectedView
    catalog: _Catalog
    columns: frozenset[str] = frozenset()  # the index columns the search key uses
    _sent: dict[int, int] | None = field(default=None, repr=False)

    @property
    def store(self) -> MailboxStore:
        return self.session.services.store

    async def narrow(self, key: keys.SearchKey, cands: set[int]) -> set[int]:
        """The UIDs of ``cands`` that ``key`` matches."""
        if not cands:
            return cands
        if isinstance(key, keys.And):
            for child in sorted(key.keys, key=_cost):
                cands = await self.narrow(child, cands)
            return cands
        if isinstance(key, keys.Or):
            first, second = sorted((key.left, key.right), key=_cost)
            left = await self.narrow(first, cands)
            return left | await self.narrow(second, cands - left)
        if isinstance(key, keys.Not):
            return cands - await self.narrow(key.key, cands)
        return await self._leaf(key, cands)

    async def _leaf(self, key: keys.SearchKey, cands: set[int]) -> set[int]:
        if isinstance(key, keys.FlagKey):
            return self._flag(key.name, cands)
        if isinstance(key, keys.SequenceKey):
            return cands.intersection(self.view.resolve(key.sequence, uid=key.uid))
        if isinstance(key, keys.SizeKey):
            if key.name == "LARGER":
                return {u for u in cands if self.catalog.record(u).size > key.value}
            return {u for u in cands if self.catalog.record(u).size < key.value}
        if isinstance(key, keys.ModSeqKey):
            return {u for u in cands if self.catalog.record(u).modseq >= key.value}
        if isinstance(key, keys.DateKey):
            return await self._date(key, cands)
        if isinstance(key, keys.StringKey) and key.name in ("KEYWORD", "UNKEYWORD"):
            return self._keyword(key, cands)
        header = _header_key(key)
        if header is not None:
            return await self._header(*header, cands)
        if isinstance(key, keys.StringKey):  # BODY, TEXT
            return await self._body(key.name == "TEXT", fold(key.value), cands)
        raise TypeError(f"unknown search key {type(key).__name__}")

    def _flag(self, name: str, cands: set[int]) -> set[int]:
        flags, view = self.catalog.flags, self.view
        if name == "ALL":
            return cands
        if name == "RECENT":
            return {u for u in cands if view.is_recent(u)}
        if name == "OLD":
            return {u for u in cands if not view.is_recent(u)}
        if name == "NEW":  # RFC 3501: RECENT UNSEEN
            return {u for u in cands if view.is_recent(u) and "\\Seen" not in flags[u]}
        if name.startswith("UN"):
            flag = _FLAG_OF[name[2:]]
            return {u for u in cands if flag not in flags[u]}
        flag = _FLAG_OF[name]
        return {u for u in cands if flag in flags[u]}

    def _keyword(self, key: keys.StringKey, cands: set[int]) -> set[int]:
        wanted = key.value.lower()
        flags = self.catalog.flags
        lowered = {text: {f.lower() for f in text} for text in set(flags[u] for u in cands)}
        having = {u for u in cands if wanted in lowered[flags[u]]}
        return having if key.name == "KEYWORD" else cands - having

    async def _date(self, key: keys.DateKey, cands: set[int]) -> set[int]:
        if not key.name.startswith("SENT"):
            # The day of the internal date in the zone FETCH INTERNALDATE shows it in.
            return {
                u
                for u in cands
                if _compare_day(key.name, self.catalog.record(u).internal_date.date(), key.value)
            }
        days = await self._sent_days(cands)
        found = set()
        for uid in cands:
            day = days.get(uid)
            if day and _compare_day(key.name, date.fromordinal(day), key.value):
                found.add(uid)
        return found

    async def _sent_days(self, cands: set[int]) -> dict[int, int]:
        if self._sent is not None:
            return self._sent
        index = await self._index_for(search_index.DATE, cands)
        if index is not None:
            self._sent = index.sent_days()
            return self._sent
        days = {}
        async for batch in self.store.iter_headers(self.view.folder.id, sorted(cands)):
            for uid, header in batch:
                sent = sent_date(header)
                if sent is not None:
                    days[uid] = sent.toordinal()
        return days

    async def _header(self, name: str, needle: str, cands: set[int]) -> set[int]:
        if name in search_index.INDEXED_FIELDS:
            index = await self._index_for(name, cands)
            if index is not None:
                return cands.intersection(index.matching(name, needle))
        found = set()
        uids = None if len(cands) == len(self.catalog.flags) else sorted(cands)  # all: by pages
        async for batch in self.store.iter_headers(self.view.folder.id, uids, HEADER_BATCH):
            for uid, header in batch:
                if header_surely_absent(header, needle):
                    continue
                if uid in cands and header_matches(header, name, needle):
                    found.add(uid)
        return found

    async def _body(self, with_headers: bool, needle: str, cands: set[int]) -> set[int]:
        found = set()
        async for batch in self.store.iter_bodies(self.view.folder.id, sorted(cands), BODY_BATCH):
            for uid, body in batch:  # messages expunged meanwhile are left out
                if surely_absent(body, needle):
                    continue
                if needle in await _text_of(body, with_headers=with_headers):
                    found.add(uid)
        return found

    async def _index_for(self, column: str, cands: set[int]) -> search_index.FolderIndex | None:
        """The folder's index with ``column`` (and every column this search uses, built in
        one read), up to date; None when reading the candidates' headers costs less."""
        limit = self.session.services.settings.search_index_bytes
        cache = search_index.cache_of(self.store, limit)
        folder = self.view.folder
        known = cache.peek(folder.account, folder.id, folder.uidvalidity)
        if known is None or column not in known.built():
            everything = len(self.catalog.flags)
            if len(cands) < INDEX_MIN or everything * _INDEX_BYTES_PER_MESSAGE > limit:
                return None
        index = cache.get(folder.account, folder.id, folder.uidvalidity)
        async with index.lock:
            wanted = self.columns | {column}
            await _restore(self.store, folder, index, wanted)
            await _bring_up_to_date(self.store, folder.id, index, wanted, self.catalog.flags)
            every = self.session.services.settings.search_index_save_every
            search_persist.save_soon(self.store, folder, index, self.catalog.flags, every)
        cache.trim()
        return index


async def _restore(
    store: MailboxStore, folder: Folder, index: search_index.FolderIndex, wanted: frozenset[str]
) -> None:
    """Load the saved columns of ``wanted`` the index lacks (``search_persist``); those saved
    before its last message get the messages above their ``max_uid`` from the headers."""
    missing = wanted - index.built()
    if not missing:
        return
    behind = search_persist.install(index, await search_persist.load(store, folder, missing))
    if not behind:
        return
    since = min(column.max_uid for column in behind.values())
    parts = []
    reading = [uid for uid in index.uids if uid > since]
    async for batch in store.iter_headers(folder.id, reading, HEADER_BATCH):
        parts.append(await asyncio.to_thread(search_index.parse, batch, frozenset(behind)))
    for name, column in behind.items():
        index.add_columns([column.part, *parts], frozenset({name}))


async def _bring_up_to_date(
    store: MailboxStore,
    folder_id: int,
    index: search_index.FolderIndex,
    wanted: frozenset[str],
    uids: Iterable[int],
) -> None:
    """Index the messages above the last one indexed, and build the ``wanted`` columns the
    index lacks for the messages it holds: one read of their header sections."""
    missing = wanted - index.built()
    top = index.max_uid
    reading = None if missing else sorted(u for u in uids if u > top)  # None: the whole folder
    if not index.uids:
        index.add_columns([], missing)  # every message is a new one
        missing = frozenset()
    if reading == []:
        return
    old: list[search_index.Parsed] = []
    async for batch in store.iter_headers(folder_id, reading, HEADER_BATCH):
        known = [(uid, header) for uid, header in batch if uid <= top]
        fresh = [(uid, header) for uid, header in batch if uid > top]
        if known:
            old.append(await asyncio.to_thread(search_index.parse, known, missing))
        if fresh:
            if missing:  # the old messages come first (UID order): their columns are done
                index.add_columns(old, missing)
                missing, old = frozenset(), []
            parsed = await asyncio.to_thread(search_index.parse, fresh, index.built())
            index.publish(parsed)
    if missing:
        index.add_columns(old, missing)


async def _text_of(body: bytes, *, with_headers: bool) -> str:
    """The folded text BODY/TEXT look at; the raw text if the MIME structure defeats us."""
    try:
        if len(body) >= _THREAD_BODY:
            return await asyncio.to_thread(body_text, body, with_headers=with_headers)
        return body_text(body, with_headers=with_headers)
    except (RecursionError, ValueError, LookupError, TypeError, AssertionError, IndexError):
        return fold(body.decode("utf-8", "replace"))


async def search(session: Session, command: Search) -> Done:
    view = selected(session)
    if command.charset is not None and command.charset not in CHARSETS:
        raise ImapError("Unsupported charset", "BADCHARSET", tuple(Atom(c) for c in CHARSETS))
    found = _walk(command.key)
    uses_modseq = any(isinstance(k, keys.ModSeqKey) for k in found)
    catalog = await _catalog(session.services.store, view, _needs_records(found, uses_modseq))
    if uses_modseq and not session.condstore:
        session.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        highest = (await session.services.store.summary(view.folder.id)).folder.highest_modseq
        await session.reply(Untagged("OK", "Highest", Code("HIGHESTMODSEQ", (highest,))))
    universe = {u for u in view.uids if u in catalog.flags}
    columns = frozenset(c for k in found if (c := _column(k)) is not None)
    hits = sorted(await _Search(session, view, catalog, columns).narrow(command.key, universe))
    hits = await _still_present(session, view, hits)
    numbers = hits if command.uid else [n for n in map(view.msn, hits) if n is not None]
    modseqs = [catalog.record(u).modseq for u in hits] if uses_modseq else None
    if command.returns is None:
        values: list[Value] = [Atom("SEARCH"), *numbers]
        if modseqs:
            values.append((Atom("MODSEQ"), max(modseqs)))  # RFC 7162 §3.1.5
        await session.reply(Data(tuple(values)))
    else:
        await session.reply(_esearch(command, numbers, modseqs))
    return Done()


async def _still_present(session: Session, view: SelectedView, hits: list[int]) -> list[int]:
    """Hits less the messages another session expunged while this search read them: their
    text gone, ``NOT SUBJECT x`` would match them (issue 3 stress checker). An expunged message
    matches nothing (RFC 2180 §4.1); its EXPUNGE is reported later, at an allowed point."""
    if not hits:
        return hits
    present = (await session.services.store.summary(view.folder.id)).uids
    kept = []
    for uid in hits:
        at = bisect.bisect_left(present, uid)
        if at < len(present) and present[at] == uid:
            kept.append(uid)
    return kept


async def _catalog(store: MailboxStore, view: SelectedView, records: bool) -> _Catalog:
    """The flags (and, when ``records``, the record) of each message of the folder: from the
    summary (UIDs and flag texts, kept up to date by the store) unless records are needed."""
    if not records:
        snap = await store.summary(view.folder.id)
        if len(snap.flag_texts) == len(snap.uids):
            parsed = {text: frozenset(text.split()) for text in set(snap.flag_texts)}
            flags = {
                uid: parsed[text] for uid, text in zip(snap.uids, snap.flag_texts, strict=True)
            }
            return _Catalog(flags, None)
    found = {r.uid: r for r in await store.list_messages(view.folder.id)}
    return _Catalog({uid: r.flags for uid, r in found.items()}, found)


def _esearch(command: Search, numbers: list[int], modseqs: list[int] | None) -> Data:
    """RFC 4731 §3.1; with CONDSTORE the MODSEQ of RFC 7162 §3.1.5: the highest of the
    messages the answer names (only the MIN and MAX ones when neither ALL nor COUNT)."""
    wanted = command.returns or ("ALL",)  # RFC 4731 §3.1: RETURN () means ALL
    values: list[Value] = [Atom("ESEARCH"), (Atom("TAG"), command.tag)]
    if command.uid:
        values.append(Atom("UID"))
    if numbers and "MIN" in wanted:
        values += [Atom("MIN"), numbers[0]]
    if numbers and "MAX" in wanted:
        values += [Atom("MAX"), numbers[-1]]
    if "COUNT" in wanted:
        values += [Atom("COUNT"), len(numbers)]
    if numbers and "ALL" in wanted:
        values += [Atom("ALL"), Atom(compress(numbers))]
    if numbers and modseqs:
        if "ALL" in wanted or "COUNT" in wanted:
            named = modseqs
        else:
            named = [modseqs[0]] if "MIN" in wanted else []
            named += [modseqs[-1]] if "MAX" in wanted else []
        values += [Atom("MODSEQ"), max(named)]
    return Data(tuple(values))
