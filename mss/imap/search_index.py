"""An in-memory index of the header fields SEARCH looks at most, per folder (issue 3, "Speed").

Header sections are sealed at rest; reading and opening a 100,000-message folder's headers costs
about a second. The first SEARCH of a folder on one of the fields indexed (SUBJECT, FROM, TO,
CC, BCC, Message-ID ..., and the day of ``Date:`` for SENT*) reads them once and keeps, for each
message, the folded text (``search_text``) of that field (a *column*: built when first needed,
only the fields searched on cost memory); later searches are a few ``str.find`` over one string
per field, whatever the keys around them.

- Nothing decrypted is ever written anywhere, nor logged (SEC-IN-3: no subject nor address
  in a log line); a column is saved only sealed by the store (``search_persist``), so that a
  node that starts loads it instead of opening every header section. The whole cache of one
  store holds at most ``imap.search_index_bytes`` (least recently used folders dropped first;
  a folder too big for it is searched by reading its headers each time).
- Up to date without notifications: header sections never change and UIDs only grow, so the
  index of a folder is brought up to date at each search by reading the headers of the UIDs
  above the last one indexed (a folder's UIDs are committed in ascending order: the folder row
  lock allocates them). Expunged messages stay in it, unseen: searches only look at the UIDs the
  session's view holds. A folder whose UIDVALIDITY changed is indexed again.
- One store per cache (a process may run several operators, e.g. in tests).
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import re
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mss.imap.search_text import ADDRESS_FIELDS, field_text, fold, parse_sent_date

INDEXED = ("subject", "from", "to", "cc", "bcc", "message-id", "in-reply-to", "reply-to")
INDEXED_FIELDS = frozenset(INDEXED)
DATE = "date"  # the column of ``Date:`` days (SENTBEFORE, SENTON, SENTSINCE)
# Values (joined by line feeds) that are their own folded text once lower-cased: ASCII, no
# encoded word, no folding, no trailing blank; for addresses no comment, quote, escape, run of
# blanks nor blank next to "@" either.
_PLAIN = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f-\xff]|=\?|\n[ \t]|[ \t](?:\n|$)")
_PLAIN_ADDRESS = re.compile(
    rb"[\x00-\x09\x0b-\x1f\x7f-\xff\"\\(]|=\?|\n[ \t]|[ \t](?:\n|$)|\s@|@\s|[ \t][ \t]"
)
# Entries: "" for a message without the field, PRESENT + values (SEP between repeated fields).
PRESENT, SEP, END = "\x01", "\x02", "\x00"
SEGMENT = 4096  # messages per segment; the last one fills up as messages arrive
_ENTRY_COST = 8  # bytes per message and field besides the text (the offset)
_NAMES = {n.encode(): n for n in (*INDEXED, DATE)}


@functools.lru_cache(maxsize=64)
def _picker(fields: frozenset[str]) -> re.Pattern[bytes]:
    """The ``fields`` after a line feed (the caller puts one before the section): one C scan
    per header section."""
    names = b"|".join(re.escape(n.encode()) for n in sorted(fields))
    return re.compile(
        rb"\n(" + names + rb")[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.IGNORECASE
    )


def _plain(name: str) -> re.Pattern[bytes]:
    return _PLAIN_ADDRESS if name in ADDRESS_FIELDS else _PLAIN


def _value(name: str, raw: bytes) -> str:
    """``fold(field_text(name, raw))``, with a fast path for plain ASCII values."""
    if _plain(name).search(raw) is None:
        return raw.decode("ascii").lower()
    return fold(field_text(name, raw))


def _column(name: str, raws: list[bytes | list[bytes] | None]) -> list[str]:
    """The entries of one field for a batch: ``raws`` holds each message's value (a list when
    repeated, None when absent). Plain values are lower-cased together, in one go."""
    singles = [raw for raw in raws if isinstance(raw, bytes)]
    joined = b"\n".join(singles)
    texts: Iterable[str]
    if _plain(name).search(joined) is None:
        texts = joined.decode("ascii").lower().split("\n")
    else:
        texts = [_value(name, raw) for raw in singles]
    plain = iter(texts)
    out = []
    for raw in raws:
        if raw is None:
            out.append("")
        elif isinstance(raw, bytes):
            out.append(PRESENT + next(plain))
        else:
            out.append(PRESENT + SEP.join(_value(name, r) for r in raw))
    return out


def entries(header: bytes) -> tuple[dict[str, str], int]:
    """The entries of one header section in every column, and the ordinal of its day (0)."""
    parsed = parse([(0, header)], frozenset({*INDEXED, DATE}))
    return {n: v[0] for n, v in parsed.values.items() if v[0]}, (parsed.days or [0])[0]


@dataclass(frozen=True, slots=True)
class Parsed:
    """Index entries of a batch of messages for some columns, made off the event loop."""

    uids: list[int]
    days: list[int] | None  # with the DATE column
    values: dict[str, list[str]]


def parse(batch: Sequence[tuple[int, bytes]], fields: frozenset[str]) -> Parsed:
    """The entries of header sections ``(uid, header)`` in the columns ``fields`` (CPU only:
    run in a thread)."""
    raws: dict[str, list[bytes | list[bytes] | None]] = {
        name: [None] * len(batch) for name in fields if name != DATE
    }
    days = [0] * len(batch) if DATE in fields else None
    pick = _picker(fields)
    for at, (_, header) in enumerate(batch):
        for name, raw in pick.findall(b"\n" + header):
            key = _NAMES.get(name) or name.decode("ascii").lower()
            if key == DATE:
                if days is not None and not days[at]:
                    sent = parse_sent_date(raw)
                    days[at] = sent.toordinal() if sent is not None else 0
                continue
            column = raws[key]
            previous = column[at]
            if previous is None:
                column[at] = raw
            elif isinstance(previous, bytes):
                column[at] = [previous, raw]
            else:
                previous.append(raw)
    values = {name: _column(name, column) for name, column in raws.items()}
    return Parsed([uid for uid, _ in batch], days, values)


def _starts(at: int, values: Sequence[str]) -> array[int]:
    """Offsets of ``values`` joined by ``END`` from ``at`` (C loops: no Python per value)."""
    ends = array("q", itertools.accumulate(map(_PLUS_ONE, map(len, values)), initial=at))
    ends.pop()
    return ends


_PLUS_ONE = (1).__add__


@dataclass
class _Segment:
    """The entries of one field for messages ``first .. first + len(starts) - 1``."""

    first: int
    joined: str
    starts: array[int]

    @classmethod
    def of(cls, first: int, values: Sequence[str]) -> _Segment:
        return cls(first, END.join(values) + END, _starts(0, values))

    def append(self, values: Sequence[str]) -> None:
        self.starts.extend(_starts(len(self.joined), values))
        self.joined += END.join(values) + END

    def positions(self, needle: str) -> Iterable[int]:
        """Positions (in the folder index) of the entries holding ``needle`` (not empty): a
        ``find`` from hit to hit when hits are few, a test of every entry when they are many."""
        joined, starts, first = self.joined, self.starts, self.first
        if joined.count(needle) * 8 > len(starts):
            return [first + i for i, value in enumerate(joined.split(END)) if needle in value]
        return self._found(needle)

    def _found(self, needle: str) -> Iterable[int]:
        joined, starts, first = self.joined, self.starts, self.first
        at = joined.find(needle)
        while at >= 0:
            index = bisect.bisect_right(starts, at) - 1
            yield first + index
            if index + 1 >= len(starts):
                return
            at = joined.find(needle, starts[index + 1])

    def present(self) -> Iterable[int]:
        for index, start in enumerate(self.starts):
            if self.joined[start] == PRESENT:
                yield self.first + index

    def cost(self) -> int:
        return len(self.joined) + _ENTRY_COST * len(self.starts)


@dataclass
class FolderIndex:
    """The columns built so far for one folder's messages, in UID order (``uids``)."""

    uidvalidity: int
    uids: array[int] = field(default_factory=lambda: array("q"))
    columns: dict[str, list[_Segment]] = field(default_factory=dict)
    sent: array[int] | None = None  # the DATE column
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Saved columns (``search_persist``): messages each held when last saved or loaded.
    saved: dict[str, int] = field(default_factory=dict)
    saving: bool = False

    @property
    def max_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def built(self) -> frozenset[str]:
        return frozenset(self.columns) | ({DATE} if self.sent is not None else frozenset())

    def adopt(self, other: FolderIndex) -> None:
        """Take the messages and columns of ``other`` (built aside, ``search_warmer``) in one
        step on the event loop: a search sees this index before or after it."""
        self.uids, self.columns, self.sent = other.uids, other.columns, other.sent
        self.saved = dict(other.saved)

    def add_columns(self, parts: Sequence[Parsed], fields: frozenset[str]) -> None:
        """New columns ``fields`` for the messages indexed so far, from ``parts`` (parsed in
        UID order; messages missing from them, expunged since, get empty entries)."""
        if len(parts) == 1 and parts[0].uids == self.uids.tolist():
            self._add_aligned(parts[0], fields)  # a saved column of the same messages
            return
        values: dict[str, list[str]] = {name: [] for name in fields if name != DATE}
        days = array("l")
        at = 0
        for part in parts:
            for i, uid in enumerate(part.uids):
                while at < len(self.uids) and self.uids[at] < uid:
                    self._blank(values, days)
                    at += 1
                if at < len(self.uids) and self.uids[at] == uid:
                    for name, column in values.items():
                        column.append(part.values[name][i])
                    days.append(part.days[i] if part.days is not None else 0)
                    at += 1
        while at < len(self.uids):
            self._blank(values, days)
            at += 1
        for name, column in values.items():
            self.columns[name] = []
            self._extend(self.columns[name], 0, column)
        if DATE in fields:
            self.sent = days

    def _add_aligned(self, part: Parsed, fields: frozenset[str]) -> None:
        for name in fields - {DATE}:
            self.columns[name] = []
            self._extend(self.columns[name], 0, part.values[name])
        if DATE in fields:
            self.sent = array("l", part.days or [0] * len(self.uids))

    @staticmethod
    def _blank(values: dict[str, list[str]], days: array[int]) -> None:
        for column in values.values():
            column.append("")
        days.append(0)

    def publish(self, batch: Parsed) -> None:
        """Add messages above ``max_uid`` (parsed for every column built), in one step on the
        event loop: a search running meanwhile sees the index before or after it."""
        keep = [i for i, uid in enumerate(batch.uids) if uid > self.max_uid]
        if not keep:
            return
        first = len(self.uids)
        self.uids.extend(batch.uids[i] for i in keep)
        if self.sent is not None:
            days = batch.days or [0] * len(batch.uids)
            self.sent.extend(days[i] for i in keep)
        for name, segments in self.columns.items():
            self._extend(segments, first, [batch.values[name][i] for i in keep])

    @staticmethod
    def _extend(segments: list[_Segment], first: int, values: list[str]) -> None:
        """Fill the last segment up to ``SEGMENT`` entries, then add new segments."""
        if segments and len(segments[-1].starts) < SEGMENT:
            room = SEGMENT - len(segments[-1].starts)
            segments[-1].append(values[:room])
            first, values = first + room, values[room:]
        for at in range(0, len(values), SEGMENT):
            segments.append(_Segment.of(first + at, values[at : at + SEGMENT]))

    def matching(self, name: str, needle: str) -> set[int]:
        """UIDs whose field ``name`` (indexed) holds the folded ``needle``; an empty needle:
        UIDs having the field."""
        uids, found = self.uids, set[int]()
        if any(c in needle for c in (PRESENT, SEP, END)):
            return found  # no header field holds these
        for segment in self.columns[name]:
            hits = segment.present() if not needle else segment.positions(needle)
            found.update(uids[i] for i in hits)
        return found

    def sent_days(self) -> dict[int, int]:
        """``{uid: ordinal of the Date: day}`` of messages with a readable ``Date:``."""
        if self.sent is None:
            raise LookupError("no DATE column")
        return {uid: day for uid, day in zip(self.uids, self.sent, strict=True) if day}

    def cost(self) -> int:
        """Bytes held, roughly."""
        text = sum(s.cost() for segments in self.columns.values() for s in segments)
        return text + 8 * len(self.uids) + (4 * len(self.sent) if self.sent is not None else 0)


class IndexCache:
    """The folder indexes of one store, least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._indexes: OrderedDict[tuple[str, int], FolderIndex] = OrderedDict()

    def get(self, account: str, folder_id: int, uidvalidity: int) -> FolderIndex:
        """The index of a folder (new and empty when unknown or of another UIDVALIDITY)."""
        key = (account, folder_id)
        index = self._indexes.get(key)
        if index is None or index.uidvalidity != uidvalidity:
            index = self._indexes[key] = FolderIndex(uidvalidity)
        self._indexes.move_to_end(key)
        return index

    def peek(self, account: str, folder_id: int, uidvalidity: int) -> FolderIndex | None:
        index = self._indexes.get((account, folder_id))
        return index if index is not None and index.uidvalidity == uidvalidity else None

    def trim(self) -> None:
        """Drop the least recently used indexes until the cache fits (a lone index too big is
        dropped too: it served its search and goes)."""
        total = sum(index.cost() for index in self._indexes.values())
        while self._indexes and total > self.max_bytes:
            _, dropped = self._indexes.popitem(last=False)
            total -= dropped.cost()

    def __len__(self) -> int:
        return len(self._indexes)


_CACHES: weakref.WeakKeyDictionary[object, IndexCache] = weakref.WeakKeyDictionary()


def cache_of(store: object, max_bytes: int) -> IndexCache:
    """The cache of ``store`` (made on first use)."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES[store] = IndexCache(max_bytes)
    return cache
