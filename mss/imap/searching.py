"""SEARCH and UID SEARCH (RFC 3501 §6.4.4), ESEARCH results (RFC 4731), MODSEQ (RFC 7162 §3.1.5).

Flag and sequence keys use the folder summary's UIDs and flags (no record per message); date,
size and MODSEQ keys the message records; header keys (FROM, SUBJECT, HEADER ...) read header
sections (the whole folder in UID order, never bodies), with a bytes test for the needle before
any parsing; BODY and TEXT read bodies. Matching is a
case-insensitive substring test on decoded text (RFC 2047 words in headers are decoded).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from mailbox_store.errors import UnknownMessage
from mailbox_store.models import MessageRecord
from mss.imap.errors import ImapError
from mss.imap.fetching import selected
from mss.imap.messages import compress
from mss.imap.session import Done
from mss.imap.view import SelectedView
from mss.wire.imap import search as keys
from mss.wire.imap.command import Search
from mss.wire.imap.response import Atom, Data, Value
from mss.wire.imap.sections import Entity, field_values

if TYPE_CHECKING:
    from mailbox_store.interfaces import MailboxStore
    from mss.imap.session import Session

CHARSETS = ("UTF-8", "US-ASCII")
HEADER_BATCH = 5000  # header sections per read of a folder-wide scan
_HEADER_KEYS = frozenset({"BCC", "CC", "FROM", "SUBJECT", "TO"})
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


def _needs(key: keys.SearchKey) -> str:
    found = _walk(key)
    if any(isinstance(k, keys.StringKey) and k.name in ("BODY", "TEXT") for k in found):
        return "body"
    if any(
        isinstance(k, keys.HeaderKey)
        or (isinstance(k, keys.StringKey) and k.name in _HEADER_KEYS)
        or (isinstance(k, keys.DateKey) and k.name.startswith("SENT"))
        for k in found
    ):
        return "header"
    return "record"


def _needs_records(found: list[keys.SearchKey], uses_modseq: bool) -> bool:
    """Whether a key (or the MODSEQ of the answer) needs more than a message's UID and flags."""
    return uses_modseq or any(
        isinstance(k, keys.SizeKey | keys.ModSeqKey)
        or (isinstance(k, keys.DateKey) and not k.name.startswith("SENT"))
        for k in found
    )


@dataclass
class _Message:
    uid: int
    flags: frozenset[str]
    number: int
    record: MessageRecord | None = None  # only when a key needs it (``_needs_records``)
    header: bytes | None = None
    body: bytes | None = None

    def need_record(self) -> MessageRecord:
        if self.record is None:
            raise RuntimeError("message record not loaded")
        return self.record

    def header_text(self, name: str) -> list[str]:
        return [_decoded(v) for v in field_values(self.header or b"", name)]


def _decoded(raw: bytes) -> str:
    """A field value as text: UTF-8 (RFC 6532) with RFC 2047 encoded words decoded."""
    value = raw.decode("utf-8", "replace")
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


@dataclass
class _Evaluator:
    view: SelectedView
    sets: dict[int, set[int]] = field(default_factory=dict)

    def matches(self, key: keys.SearchKey, msg: _Message) -> bool:
        if isinstance(key, keys.And):
            return all(self.matches(k, msg) for k in key.keys)
        if isinstance(key, keys.Or):
            return self.matches(key.left, msg) or self.matches(key.right, msg)
        if isinstance(key, keys.Not):
            return not self.matches(key.key, msg)
        if isinstance(key, keys.FlagKey):
            return self._flag(key.name, msg)
        if isinstance(key, keys.SequenceKey):
            return (msg.uid if key.uid else msg.number) in self._set(key)
        if isinstance(key, keys.SizeKey):
            size = msg.need_record().size
            return size > key.value if key.name == "LARGER" else size < key.value
        if isinstance(key, keys.DateKey):
            return self._date(key, msg)
        if isinstance(key, keys.ModSeqKey):
            return msg.need_record().modseq >= key.value
        if isinstance(key, keys.HeaderKey):
            if _surely_absent(msg.header or b"", key.value):
                return False
            values = msg.header_text(key.field)
            return bool(values) and any(_contains(v, key.value) for v in values)
        return self._string(key, msg)

    def _flag(self, name: str, msg: _Message) -> bool:
        flags = msg.flags
        recent = self.view.is_recent(msg.uid)
        if name == "ALL":
            return True
        if name in ("NEW", "OLD", "RECENT"):
            if name == "NEW":
                return recent and "\\Seen" not in flags
            return recent if name == "RECENT" else not recent
        if name.startswith("UN"):
            return _FLAG_OF[name[2:]] not in flags
        return _FLAG_OF[name] in flags

    def _set(self, key: keys.SequenceKey) -> set[int]:
        found = self.sets.get(id(key))
        if found is None:
            found = set(self.view.resolve(key.sequence, uid=key.uid))
            if not key.uid:
                found = {n for n in (self.view.msn(u) for u in found) if n is not None}
            self.sets[id(key)] = found
        return found

    def _date(self, key: keys.DateKey, msg: _Message) -> bool:
        if key.name.startswith("SENT"):
            sent = _sent_date(msg)
            if sent is None:
                return False
            day, name = sent, key.name[4:]
        else:
            day, name = msg.need_record().internal_date.date(), key.name
        if name == "BEFORE":
            return day < key.value
        if name == "ON":
            return day == key.value
        return day >= key.value  # SINCE

    def _string(self, key: keys.SearchKey, msg: _Message) -> bool:
        if not isinstance(key, keys.StringKey):
            raise TypeError(f"unknown search key {type(key).__name__}")
        if key.name in ("KEYWORD", "UNKEYWORD"):
            present = key.value.lower() in {f.lower() for f in msg.flags}
            return present if key.name == "KEYWORD" else not present
        if key.name in _HEADER_KEYS:
            if _surely_absent(msg.header or b"", key.value):
                return False
            return any(_contains(v, key.value) for v in msg.header_text(key.name))
        body = msg.body or b""
        if key.name == "BODY":
            body = Entity.parse(body).body
        return _contains(body.decode("utf-8", "replace"), key.value)


def _surely_absent(header: bytes, needle: str) -> bool:
    """A cheap first test on the raw bytes: an ASCII needle absent from an ASCII header without
    encoded words (nor, for a needle with white space, folded lines) cannot match."""
    if not needle.isascii() or not header.isascii() or b"=?" in header:
        return False
    if (b"\n " in header or b"\n\t" in header) and any(c.isspace() for c in needle):
        return False  # unfolding joins lines: the needle may span one
    return needle.lower().encode() not in header.lower()


def _sent_date(msg: _Message) -> date | None:
    values = field_values(msg.header or b"", "date")
    if not values:
        return None
    try:
        return parsedate_to_datetime(values[0].decode("ascii", "replace")).date()
    except (TypeError, ValueError, IndexError):
        return None


async def search(session: Session, command: Search) -> Done:
    view = selected(session)
    if command.charset is not None and command.charset not in CHARSETS:
        raise ImapError("Unsupported charset", "BADCHARSET", tuple(Atom(c) for c in CHARSETS))
    found = _walk(command.key)
    uses_modseq = any(isinstance(k, keys.ModSeqKey) for k in found)
    if uses_modseq:
        session.condstore = True
    store = session.services.store
    catalog = await _catalog(store, view, _needs_records(found, uses_modseq))
    evaluator = _Evaluator(view)
    hits: list[_Message] = []
    needles = _required_needles(command.key)
    async for msg in _messages(store, view, catalog, _needs(command.key), needles):
        if evaluator.matches(command.key, msg):
            hits.append(msg)
    numbers = [m.uid if command.uid else m.number for m in hits]
    modseq = max((m.need_record().modseq for m in hits), default=0) if uses_modseq else None
    if command.returns is None:
        values: list[Value] = [Atom("SEARCH"), *numbers]
        if modseq:
            values.append((Atom("MODSEQ"), modseq))
        await session.reply(Data(tuple(values)))
    else:
        await session.reply(_esearch(command, numbers, modseq))
    return Done()


_Catalog = dict[int, tuple[frozenset[str], MessageRecord | None]]


async def _catalog(store: MailboxStore, view: SelectedView, records: bool) -> _Catalog:
    """The flags (and, when ``records``, the record) of each message of the folder: from the
    summary (UIDs and flag texts, kept up to date by the store) unless records are needed."""
    if not records:
        snap = await store.summary(view.folder.id)
        if len(snap.flag_texts) == len(snap.uids):
            parsed: dict[str, frozenset[str]] = {}
            for text in set(snap.flag_texts):
                parsed[text] = frozenset(text.split())
            return {
                uid: (parsed[text], None)
                for uid, text in zip(snap.uids, snap.flag_texts, strict=True)
            }
    return {r.uid: (r.flags, r) for r in await store.list_messages(view.folder.id)}


def _required_needles(key: keys.SearchKey) -> list[bytes]:
    """ASCII strings (lowercased) every matching message has in its raw header section: those
    of the header keys the search key requires (itself, or one of a top-level AND)."""
    found = []
    for part in key.keys if isinstance(key, keys.And) else (key,):
        if isinstance(part, keys.HeaderKey) or (
            isinstance(part, keys.StringKey) and part.name in _HEADER_KEYS
        ):
            value = part.value
            if value and value.isascii():
                found.append(value.lower().encode())
    return found


def _holding(joined: bytes, starts: Sequence[int], pattern: bytes) -> set[int]:
    """Indexes of the sections of ``joined`` (starting at ``starts``) that contain ``pattern``."""
    found: set[int] = set()
    at = joined.find(pattern)
    while at >= 0:
        index = bisect.bisect_right(starts, at) - 1
        found.add(index)
        at = joined.find(pattern, starts[index + 1]) if index + 1 < len(starts) else -1
    return found


def _candidates(headers: list[bytes], needles: list[bytes]) -> set[int]:
    """The headers of a batch that may match: all the needles in the raw (lowercased) bytes,
    or something the raw bytes do not show as decoded text (RFC 2047 words, UTF-8, folded
    lines for a needle with white space): one scan of the batch in C, no loop per message.
    NUL (never in an IMAP string) separates the sections, so no match spans two."""
    joined = b"\x00".join(headers).lower()
    starts = list(itertools.accumulate((len(h) + 1 for h in headers), initial=0))[:-1]
    keep = _holding(joined, starts, needles[0])
    for needle in needles[1:]:
        keep &= _holding(joined, starts, needle)
    keep |= _holding(joined, starts, b"=?")
    if any(c.isspace() for n in needles for c in n.decode()):
        keep |= _holding(joined, starts, b"\n ") | _holding(joined, starts, b"\n\t")
    if not joined.isascii():
        keep.update(i for i, header in enumerate(headers) if not header.isascii())
    return keep


async def _messages(
    store: MailboxStore,
    view: SelectedView,
    catalog: _Catalog,
    needs: str,
    needles: list[bytes],
) -> AsyncIterator[_Message]:
    """The messages of the view in order, with what the keys need: flags and records, headers
    (the whole folder's, read in batches, no body; only those holding the ``needles`` the key
    requires are looked at), or bodies."""
    if needs == "header":
        async for batch in store.iter_headers(view.folder.id, batch=HEADER_BATCH):
            if needles:
                keep = _candidates([header for _, header in batch], needles)
                batch = [batch[i] for i in sorted(keep)]
            for uid, header in batch:
                number, known = view.msn(uid), catalog.get(uid)
                if number is not None and known is not None:
                    yield _Message(uid, known[0], number, known[1], header=header)
        return
    for number, uid in enumerate(list(view.uids), start=1):
        known = catalog.get(uid)
        if known is None:
            continue
        msg = _Message(uid, known[0], number, known[1])
        if needs == "body":
            try:
                msg.body = await store.get_body(view.folder.id, uid)
            except UnknownMessage:
                continue
            msg.header = Entity.parse(msg.body).header
        yield msg


def _esearch(command: Search, numbers: list[int], modseq: int | None) -> Data:
    wanted = command.returns or ("ALL",)  # RFC 4731 §3.1: RETURN () means ALL
    values: list[Value] = [Atom("ESEARCH"), (Atom("TAG"), command.tag)]
    if command.uid:
        values.append(Atom("UID"))
    if numbers and "MIN" in wanted:
        values += [Atom("MIN"), min(numbers)]
    if numbers and "MAX" in wanted:
        values += [Atom("MAX"), max(numbers)]
    if "COUNT" in wanted:
        values += [Atom("COUNT"), len(numbers)]
    if numbers and "ALL" in wanted:
        values += [Atom("ALL"), Atom(compress(numbers))]
    if numbers and modseq:
        values += [Atom("MODSEQ"), modseq]
    return Data(tuple(values))
