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
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from mailbox_store.errors import UnknownMessage
from mailbox_store.models import FlagMode, MessageRecord
from mss.audit import AuditEvent
from mss.imap.errors import Bad, ImapError
from mss.imap.session import Done
from mss.imap.view import SelectedView
from mss.wire.imap.command import Fetch
from mss.wire.imap.dates import render_date_time
from mss.wire.imap.fetch import FetchAttr
from mss.wire.imap.response import Atom, FetchData, Literal, Value
from mss.wire.imap.sections import Entity, UnknownEncodingError, binary_bytes, section_bytes
from mss.wire.imap.sequence import SequenceSet
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
        raise Bad("QRESYNC is not enabled", "CLIENTBUG")  # RFC 7162 §3.2.6
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
    records = await load_records(store, view.folder.id, uids)
    if command.changedsince is not None:
        records = {u: r for u, r in records.items() if r.modseq > command.changedsince}
    marked = await _mark_seen(session, view, items, records)
    needs = {_needs(i) for i in items}
    bodies = 0
    present = [uid for uid in uids if uid in records]  # others expunged meanwhile (RFC 2180 §4.1)
    if needs == {"record"}:
        await _send_record_lines(session, view, present, records, items)
        return Done()
    async for uid, source in _sources(store, view.folder.id, present, needs):
        record = records[uid]
        number = view.msn(uid)
        if number is None:
            continue
        bodies += "body" in needs
        pairs = [_item(session, view, record, item, source) for item in items]
        if uid in marked and not any(i.name == "FLAGS" for i in items):
            pairs.append(("FLAGS", tuple(Atom(f) for f in view.flags_of(record))))
        await session.reply(FetchData(number, tuple(pairs)))
    if bodies:
        session.audit(
            AuditEvent.MAILBOX_ACCESSED,
            action="fetch",
            folder=view.folder.name,
            count=bodies,
            protocol="imap",
        )
    return Done()


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
    for uid in uids:
        lo = bisect.bisect_left(view.uids, uid, lo)
        if lo == len(view.uids) or view.uids[lo] != uid:
            continue
        chunk.append(_record_line(view, lo + 1, records[uid], items))
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
    no longer in the folder are left out (RFC 2180 §4.1), like the record path does."""
    snap = await session.services.store.summary(view.folder.id)
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
        if at == len(known) or known[at] != uid:
            continue
        number = bisect.bisect_left(view.uids, uid, number)
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


def _literal(data: bytes, partial: tuple[int, int] | None) -> Literal:
    if partial is not None:
        origin, length = partial
        data = data[origin : origin + length]
    return Literal(data)


def _item(
    session: Session, view: SelectedView, record: MessageRecord, item: FetchAttr, source: _Source
) -> tuple[str, Value]:
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
        return key, envelope(source.need_header())
    if name == "RFC822.HEADER":
        return key, Literal(source.need_header())
    if name == "RFC822":
        return key, Literal(source.need_body())
    if name == "RFC822.TEXT":
        return key, Literal(Entity.parse(source.need_body()).body)
    if name == "BODYSTRUCTURE":
        return key, bodystructure(source.need_body())
    if name == "BODY" and item.section is None:
        return key, bodystructure(source.need_body(), extended=False)
    if item.section is None:
        raise Bad("Unknown fetch item", "CLIENTBUG")
    if name == "BODY":
        data = source.header if _needs(item) == "header" and source.body is None else None
        whole = source.need_body() if data is None else data
        return key, _literal(section_bytes(whole, item.section), item.partial)
    try:
        decoded = binary_bytes(source.need_body(), item.section.part)
    except UnknownEncodingError as exc:
        raise ImapError("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE") from exc
    if name == "BINARY.SIZE":
        return key, len(decoded)
    piece = _literal(decoded, item.partial)
    return key, Literal(piece.data, binary=b"\x00" in piece.data)
