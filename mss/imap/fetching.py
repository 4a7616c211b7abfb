"""FETCH and UID FETCH (RFC 3501 §6.4.5, BINARY RFC 3516, CONDSTORE RFC 7162 §3.1.4).

Records come from one ranged ``list_messages``, except for ``UID``/``FLAGS`` of many messages
(``FETCH 1:* (UID FLAGS)``, a client's resync), answered from the folder summary's UIDs and flag
texts without building a record per message; headers (ENVELOPE, BODY[HEADER...]) from
``get_header`` without reading bodies; bodies only for the items that need them. Fetching a body
section without ``.PEEK`` sets ``\\Seen`` and the new FLAGS are sent with the data. One audit event
per command with the number of bodies read (SEC-IN-4).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING

from mailbox_store.errors import UnknownMessage
from mailbox_store.models import FlagMode, MessageRecord
from mss.audit import AuditEvent
from mss.imap import qresync
from mss.imap.errors import Bad, ImapError
from mss.imap.session import Done
from mss.imap.view import SelectedView
from mss.wire.imap.binary import decoded_size
from mss.wire.imap.command import Fetch
from mss.wire.imap.dates import render_date_time
from mss.wire.imap.fetch import FetchAttr, Section
from mss.wire.imap.response import Atom, FetchData, Value, render_value
from mss.wire.imap.sections import Entity, UnknownEncodingError, binary_part, section_bytes
from mss.wire.imap.sequence import SequenceSet
from mss.wire.imap.streaming import (
    Partial,
    Streamed,
    decoded_literal,
    is_small,
    plain_literal,
    survey,
    without_nul,
)
from mss.wire.imap.structure import bodystructure, envelope

if TYPE_CHECKING:
    from mailbox_store.interfaces import MailboxStore
    from mss.imap.session import Session

SEEN = "\\Seen"
_RECORD_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "MODSEQ"})
_HEADER_ITEMS = frozenset({"ENVELOPE", "RFC822.HEADER"})
_SUMMARY_ITEMS = frozenset({"UID", "FLAGS"})
SUMMARY_MIN = 256  # from this many messages, UID/FLAGS come from the folder summary


def selected(session: Session) -> SelectedView:
    if session.view is None:
        raise Bad("No mailbox selected", "CLIENTBUG")
    return session.view


def target_uids(view: SelectedView, command_uid: bool, sequence: SequenceSet) -> list[int]:
    if not command_uid and view.msn_out_of_range(sequence):
        raise Bad("Message number out of range", "CLIENTBUG")  # RFC 3501 §9 seq-number
    return view.resolve(sequence, uid=command_uid)


async def load_records(
    store: MailboxStore, folder_id: int, uids: Sequence[int]
) -> dict[int, MessageRecord]:
    if not uids:
        return {}
    wanted = set(uids)
    records = await store.list_messages(folder_id, uids[0], uids[-1])
    return {r.uid: r for r in records if r.uid in wanted}


def _needs(item: FetchAttr) -> str:
    """``record``, ``header`` or ``body``: the cheapest source that answers ``item``."""
    if item.name in _RECORD_ITEMS:
        return "record"
    if item.name in _HEADER_ITEMS:
        return "header"
    section = item.section
    text = section.text if section is not None and not section.part else None
    if item.name == "BODY" and text is not None and text.startswith("HEADER"):
        return "header"
    return "body"


async def fetch(session: Session, command: Fetch) -> Done:
    view = selected(session)
    if command.vanished:
        await qresync.fetch_vanished(session, view, command)  # RFC 7162 §3.2.6
    uids = target_uids(view, command.uid, command.sequence)
    items = list(command.items)
    if command.uid and not any(i.name == "UID" for i in items):
        items.insert(0, FetchAttr("UID"))  # RFC 3501 §6.4.8
    if command.changedsince is not None or any(i.name == "MODSEQ" for i in items):
        session.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        if not any(i.name == "MODSEQ" for i in items):
            items.append(FetchAttr("MODSEQ"))
    store = session.services.store
    if (
        command.changedsince is None
        and len(uids) >= SUMMARY_MIN
        and {i.name for i in items} <= _SUMMARY_ITEMS
        and await _send_from_summary(session, view, uids, items)
    ):
        return Done()
    if command.changedsince is not None:  # through the modseq index, not every record
        records = await qresync.changed_records(store, view.folder.id, uids, command.changedsince)
        expunged: list[int] = []
    else:
        records = await load_records(store, view.folder.id, uids)
        expunged = [u for u in uids if u not in records]  # by another session, not yet reported
    marked = await _mark_seen(session, view, items, records)
    if marked or any(i.name == "FLAGS" for i in items):
        await announce_keywords(session, view, (r.flags for r in records.values()))
    needs = {_needs(i) for i in items}
    bodies = 0
    present = [uid for uid in uids if uid in records]
    if needs == {"record"}:
        await _send_record_lines(session, view, uids if expunged else present, records, items)
        return Done()
    await _send_expunged_uids(session, view, expunged, items)
    async for uid, source in _sources(store, view.folder.id, present, needs):
        record = records[uid]
        number = view.msn(uid)
        if number is None:
            continue
        bodies += "body" in needs
        pairs = [_item(session, view, record, item, source) for item in items]
        if uid in marked and not any(i.name == "FLAGS" for i in items):
            pairs.append(("FLAGS", tuple(Atom(f) for f in view.flags_of(record))))
        await _send_fetch(session, number, pairs)
    if bodies:
        session.audit(
            AuditEvent.MAILBOX_ACCESSED,
            action="fetch",
            folder=view.folder.name,
            count=bodies,
            protocol="imap",
        )
    return Done()


async def announce_keywords(
    session: Session, view: SelectedView, flag_sets: Iterable[Iterable[str]]
) -> None:
    """A keyword another session brought in is announced (``* FLAGS``, PERMANENTFLAGS) before
    a FETCH shows it: a client may only see flags of the mailbox's FLAGS (RFC 3501 §7.2.6)."""
    used: set[str] = set()
    for flags in flag_sets:
        used.update(flags)
    if view.add_flags(used):
        await session.reply(*view.flag_responses())


async def _send_expunged_uids(
    session: Session, view: SelectedView, uids: list[int], items: list[FetchAttr]
) -> None:
    """Messages another session expunged keep their number here until EXPUNGE may be sent
    (RFC 3501 §7.4.1); their UID is known, so ``FETCH n (UID)`` still names them; the data
    that is gone is left out (RFC 2180 §4.1.3)."""
    if not any(i.name == "UID" for i in items):
        return
    for uid in uids:
        number = view.msn(uid)
        if number is not None:
            await session.reply(FetchData(number, (("UID", uid),)))


async def _mark_seen(
    session: Session,
    view: SelectedView,
    items: list[FetchAttr],
    records: dict[int, MessageRecord],
) -> set[int]:
    if view.readonly or not any(i.sets_seen for i in items):
        return set()
    unseen = [uid for uid, r in records.items() if SEEN not in r.flags]
    if not unseen:
        return set()
    updated = await session.services.store.store_flags(
        view.folder.id, unseen, frozenset({SEEN}), FlagMode.ADD
    )
    for record in updated:
        records[record.uid] = record
        view.own_modseq[record.uid] = record.modseq
    return {r.uid for r in updated}


async def _send_record_lines(
    session: Session,
    view: SelectedView,
    uids: list[int],
    records: dict[int, MessageRecord],
    items: list[FetchAttr],
) -> None:
    chunk: list[bytes] = []
    lo = 0
    with_uid = any(i.name == "UID" for i in items)
    for uid in uids:
        lo = bisect.bisect_left(view.uids, uid, lo)
        if lo == len(view.uids) or view.uids[lo] != uid:
            continue
        record = records.get(uid)
        if record is not None:
            chunk.append(_record_line(view, lo + 1, record, items))
        elif with_uid:  # expunged by another session: its UID only (see _send_expunged_uids)
            chunk.append(b"* %d FETCH (UID %d)\r\n" % (lo + 1, uid))
        if len(chunk) >= 512:
            await session.conn.send_bytes(b"".join(chunk))
            chunk.clear()
    if chunk:
        await session.conn.send_bytes(b"".join(chunk))


async def _send_from_summary(
    session: Session, view: SelectedView, uids: list[int], items: list[FetchAttr]
) -> bool:
    """``* n FETCH (UID u FLAGS (...))`` lines from the folder summary, rendered in bulk; False
    (nothing sent) if the store gives no flag texts. ``uids`` ascending, all in the view; those
    no longer in the folder get their UID only, like the record path does."""
    snap = await session.services.store.summary(view.folder.id)
    await announce_keywords(session, view, (snap.flags_in_use,))
    known, texts = snap.uids, snap.flag_texts
    if len(texts) != len(known):
        return False
    line = b"* %d FETCH (" + b" ".join(b"UID %d" if i.name == "UID" else b"%s" for i in items)
    line += b")\r\n"
    with_uid = tuple(i.name == "UID" for i in items)
    flags_of: dict[tuple[str, bool], bytes] = {}
    chunk: list[bytes] = []
    at = number = 0
    for uid in uids:
        at = bisect.bisect_left(known, uid, at)
        number = bisect.bisect_left(view.uids, uid, number)
        if at == len(known) or known[at] != uid:
            if any(with_uid):  # expunged by another session (see _send_expunged_uids)
                chunk.append(b"* %d FETCH (UID %d)\r\n" % (number + 1, uid))
            continue
        key = (texts[at], uid in view.recent)
        flags = flags_of.get(key)
        if flags is None:
            flags = flags_of[key] = _flags_bytes(frozenset(key[0].split()), key[1])
        values = [uid if u else flags for u in with_uid]
        chunk.append(line % (number + 1, *values))
        if len(chunk) >= 1024:
            await session.conn.send_bytes(b"".join(chunk))
            chunk.clear()
    if chunk:
        await session.conn.send_bytes(b"".join(chunk))
    return True


@functools.lru_cache(maxsize=4096)
def _flags_bytes(flags: frozenset[str], recent: bool) -> bytes:
    names = sorted(flags) + (["\\Recent"] if recent else [])
    return b"FLAGS (" + " ".join(names).encode("ascii", "replace") + b")"


def _record_line(
    view: SelectedView, number: int, record: MessageRecord, items: list[FetchAttr]
) -> bytes:
    """``* n FETCH (...)`` for items read from the record alone, rendered directly: the hot path
    of ``FETCH 1:* (UID FLAGS)``. Flags are atoms (the parser and the store checked them)."""
    parts: list[bytes] = []
    for item in items:
        name = item.name
        if name == "UID":
            parts.append(b"UID %d" % record.uid)
        elif name == "FLAGS":
            parts.append(_flags_bytes(record.flags, view.is_recent(record.uid)))
        elif name == "MODSEQ":
            parts.append(b"MODSEQ (%d)" % record.modseq)
        elif name == "RFC822.SIZE":
            parts.append(b"RFC822.SIZE %d" % record.size)
        else:
            parts.append(b'INTERNALDATE "%s"' % render_date_time(record.internal_date).encode())
    return b"* %d FETCH (" % number + b" ".join(parts) + b")\r\n"


class _Source:
    """The header and body of one message, read at most once."""

    def __init__(self, header: bytes | None, body: bytes | None) -> None:
        self.header = header
        self.body = body
        self.surveys: dict[tuple[int, ...], tuple[int, bool]] = {}  # BINARY size/NUL per part

    def survey(self, part: tuple[int, ...], content: bytes, encoding: str) -> tuple[int, bool]:
        """The decoded size of a part and whether it holds NUL, decoded once per command
        (``FETCH 1 (BINARY.SIZE[2] BINARY[2])`` decodes the attachment to count it, then
        once more while sending it; never a third time)."""
        if part not in self.surveys:
            self.surveys[part] = survey(content, encoding)
        return self.surveys[part]

    def need_header(self) -> bytes:
        if self.header is None:
            self.header = Entity.parse(self.need_body()).header
        return self.header

    def need_body(self) -> bytes:
        if self.body is None:
            raise RuntimeError("body not loaded")
        return self.body


async def _sources(
    store: MailboxStore, folder_id: int, uids: list[int], needs: set[str]
) -> AsyncIterator[tuple[int, _Source]]:
    """Each message's data, reading no more than the items need: headers come in batches."""
    if "body" in needs:
        for uid in uids:
            try:
                yield uid, _Source(None, await store.get_body(folder_id, uid))
            except UnknownMessage:
                continue
    elif "header" in needs:
        async for batch in store.iter_headers(folder_id, uids):
            for uid, header in batch:
                yield uid, _Source(header, None)
    else:
        for uid in uids:
            yield uid, _Source(None, None)


def _literal(data: bytes | None, partial: Partial | None) -> Value | Streamed:
    """A BODY section: NIL when it does not exist, else its bytes (``<origin.length>`` cut)."""
    if data is None:
        return None
    return plain_literal(data, partial)


async def _send_fetch(
    session: Session, number: int, pairs: list[tuple[str, Value | Streamed]]
) -> None:
    """One FETCH response; a large literal goes out a chunk at a time, never whole in memory
    (a 25 MB attachment decoded for BINARY, RFC 3516)."""
    if not any(isinstance(v, Streamed) for _, v in pairs):
        await session.reply(
            FetchData(number, tuple((k, v) for k, v in pairs if not isinstance(v, Streamed)))
        )
        return
    head = b"* %d FETCH (" % number
    for index, (key, value) in enumerate(pairs):
        head += (b" " if index else b"") + key.encode("ascii", "replace") + b" "
        if not isinstance(value, Streamed):
            head += render_value(value)
            continue
        await session.conn.send_bytes(head + value.announcement())
        head = b""
        for chunk in value.chunks:
            await session.conn.send_bytes(chunk)
    await session.conn.send_bytes(head + b")\r\n")


def _item(
    session: Session, view: SelectedView, record: MessageRecord, item: FetchAttr, source: _Source
) -> tuple[str, Value | Streamed]:
    name = item.name
    key = item.response_key()
    if name == "UID":
        return key, record.uid
    if name == "FLAGS":
        return key, tuple(Atom(f) for f in view.flags_of(record))
    if name == "INTERNALDATE":
        return key, render_date_time(record.internal_date)
    if name == "RFC822.SIZE":
        return key, record.size
    if name == "MODSEQ":
        return key, (record.modseq,)
    if name == "ENVELOPE":
        header = source.need_header()
        return key, without_nul(envelope(header)) if b"\x00" in header else envelope(header)
    if name == "RFC822.HEADER":
        return key, plain_literal(source.need_header(), None)
    if name == "RFC822":
        return key, plain_literal(source.need_body(), None)
    if name == "RFC822.TEXT":
        return key, plain_literal(Entity.parse(source.need_body()).body, None)
    if name == "BODYSTRUCTURE" or (name == "BODY" and item.section is None):
        body = source.need_body()
        structure = bodystructure(body, extended=name == "BODYSTRUCTURE")
        return key, without_nul(structure) if b"\x00" in body else structure
    if item.section is None:
        raise Bad("Unknown fetch item", "CLIENTBUG")
    if name == "BODY":
        data = source.header if _needs(item) == "header" and source.body is None else None
        whole = source.need_body() if data is None else data
        return key, _literal(section_bytes(whole, item.section), item.partial)
    if item.section.text is not None:
        return key, _binary_text(name, source.need_body(), item.section, item.partial)
    try:
        found = binary_part(source.need_body(), item.section.part)
    except UnknownEncodingError as exc:  # RFC 3516 §4.3
        raise ImapError("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE") from exc
    if found is None:  # no such part: NIL, and a size of 0 for it
        return key, 0 if name == "BINARY.SIZE" else None
    part = item.section.part
    if name == "BINARY.SIZE":  # counted without decoding base64 when not surveyed yet
        known = source.surveys.get(part)
        return key, known[0] if known is not None else decoded_size(*found)
    partial = item.partial
    known = source.surveys.get(part)
    if not is_small(partial):
        known = source.survey(part, *found)
    return key, decoded_literal(*found, partial, known)


def _binary_text(
    name: str, message: bytes, section: Section, partial: Partial | None
) -> Value | Streamed:
    """``BINARY[TEXT]``, ``BINARY[2.MIME]``, ``BINARY.SIZE[2.HEADER.FIELDS (...)]``: beyond
    RFC 3516's part numbers, as Dovecot answers them (imaptest's fetch-binary-mime): the bytes
    of the BODY section as stored, nothing decoded, a literal8 only if they hold NUL; NIL (size
    0) where the BODY section would be NIL."""
    data = section_bytes(message, section)
    if name == "BINARY.SIZE":
        return 0 if data is None else len(data)
    return None if data is None else decoded_literal(data, "binary", partial)
