"""QRESYNC (RFC 7162 §3.2): ENABLE QRESYNC, SELECT/EXAMINE ``(QRESYNC (...))``,
``UID FETCH ... (CHANGEDSINCE m VANISHED)``, ``[CLOSED]`` and the HIGHESTMODSEQ of EXPUNGE.

The store keeps each folder's HIGHESTMODSEQ but no record of which UID was expunged at which
mod-sequence. So ``VANISHED (EARLIER)`` is worked out from what exists now: when the client's
mod-sequence is the folder's HIGHESTMODSEQ (or above) nothing changed, nothing vanished, and no
UID is looked at; otherwise the UIDs of the client's known set (``known-uids``, the UID FETCH
set, or ``1:UIDNEXT-1``) that are no longer in the folder are reported, in runs, after dropping
those the seq-match-data proves the client already knows about. RFC 7162 §3.2.5.2 and §3.2.10
allow this: ``VANISHED (EARLIER)`` may name UIDs the client never saw or already knows are gone
(clients ignore them). The gaps are found on the folder summary's UID list (no message row is
read) by halving only the stretches where UIDs are missing: O(gaps x log n), O(n) at worst.

Held-back removals: while FETCH, STORE or SEARCH may not report a removal, their MODSEQs can
run past it; the session then sends ``OK [HIGHESTMODSEQ m]`` with m below the removal (the
client's safe resync point; ``Session.report_updates``), so the fast path never hides it.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mss.imap import basic
from mss.imap.errors import Bad
from mss.imap.session import Done
from mss.wire.imap.command import Copy, Enable, Fetch, Select
from mss.wire.imap.qresync import QresyncParams, vanished
from mss.wire.imap.response import Code, FetchData, Untagged
from mss.wire.imap.sequence import SequenceSet

if TYPE_CHECKING:
    from mailbox_store.interfaces import MailboxStore
    from mailbox_store.models import FolderSummary, MessageRecord
    from mss.imap.session import Session
    from mss.imap.view import SelectedView

CLOSED = Untagged("OK", "Previous mailbox closed", Code("CLOSED"))
Handler = Callable[[Any, Any], Awaitable[Done | None]]


# -- pure parts ----------------------------------------------------------------------------


def missing_spans(present: Sequence[int], wanted: Iterable[range]) -> list[tuple[int, int]]:
    """The runs of ``wanted`` (ascending, disjoint ranges) holding no UID of ``present``
    (ascending, distinct). A stretch of ``present`` with as many UIDs as its bounds allow has no
    gap, so the search halves stretches only where UIDs are missing: O(gaps x log n), not O(n)."""
    spans: list[tuple[int, int]] = []
    for span in wanted:
        lo, hi = span.start, span.stop - 1
        start, stop = bisect.bisect_left(present, lo), bisect.bisect_right(present, hi)
        _gaps(present, start, stop, lo, hi, spans)
    return spans


def _gaps(
    present: Sequence[int], start: int, stop: int, lo: int, hi: int, out: list[tuple[int, int]]
) -> None:
    """Append the runs of ``lo..hi`` missing from ``present[start:stop]`` (all inside it)."""
    pending = [(start, stop, lo, hi)]
    while pending:
        start, stop, lo, hi = pending.pop()
        if lo > hi or stop - start == hi - lo + 1:
            continue  # empty, or every UID of lo..hi is there
        if start == stop:
            out.append((lo, hi))
            continue
        middle = (start + stop) // 2
        uid = present[middle]
        pending.append((middle + 1, stop, uid + 1, hi))  # popped second: ascending output
        pending.append((start, middle, lo, uid - 1))


async def changed_records(
    store: MailboxStore, folder_id: int, uids: Sequence[int], since: int
) -> dict[int, MessageRecord]:
    """The records among ``uids`` (ascending) changed after ``since`` (CHANGEDSINCE, RFC 7162
    §3.1.4), read through the folder's modseq index rather than record by record."""
    found: dict[int, MessageRecord] = {}
    for record in await store.changed_since(folder_id, since):
        at = bisect.bisect_left(uids, record.uid)
        if at < len(uids) and uids[at] == record.uid:
            found[record.uid] = record
    return found


def known_prefix(present: Sequence[int], matches: Iterable[tuple[int, int]]) -> int:
    """The highest UID up to which the client's message numbers still agree with the folder
    (RFC 7162 §3.2.5.2 seq-match-data): below it nothing vanished that the client does not
    know of. 0 when the first pair already differs."""
    agreed = 0
    for number, uid in matches:
        if number > len(present) or present[number - 1] != uid:
            break
        agreed = uid
    return agreed


def drop_through(spans: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """``spans`` without the UIDs ``<= limit``."""
    kept: list[tuple[int, int]] = []
    for lo, hi in spans:
        if hi > limit:
            kept.append((max(lo, limit + 1), hi))
    return kept


def vanished_since(snap: FolderSummary, params: QresyncParams) -> list[tuple[int, int]]:
    """The UID runs to report in ``VANISHED (EARLIER)`` at a QRESYNC SELECT."""
    folder = snap.folder
    if params.modseq >= folder.highest_modseq:
        return []  # nothing at all changed since the client's state
    last = folder.uidnext - 1
    if params.known_uids is not None:
        wanted: Iterable[range] = params.known_uids.resolve(last)
    else:
        wanted = (range(1, last + 1),) if last > 0 else ()
    spans = missing_spans(snap.uids, wanted)
    if params.matches and spans:
        spans = drop_through(spans, known_prefix(snap.uids, params.matches))
    return spans


# -- commands ------------------------------------------------------------------------------


async def enable(session: Session, command: Enable) -> Done:
    """RFC 7162 §3.2.3: ENABLE QRESYNC also enables CONDSTORE."""
    done = await basic.enable(session, command)
    if "QRESYNC" in command.capabilities:
        session.qresync = True
        session.condstore = True
    return done


def check_select(session: Session, command: Select) -> None:
    """RFC 7162 §3.2.5: the QRESYNC parameter without ENABLE QRESYNC is a BAD (checked before
    anything else, so the selected mailbox stays as it is, like after any BAD)."""
    if command.qresync is not None and not session.qresync:
        raise Bad("QRESYNC is not enabled", "CLIENTBUG")


async def close_previous(session: Session) -> None:
    """RFC 7162 §3.2.11: SELECT/EXAMINE while a mailbox is selected closes it; ``[CLOSED]``
    separates the responses of the old mailbox from those of the new one (even if the new one
    then fails to open)."""
    if session.view is not None:
        await session.reply(CLOSED)


async def resync(
    session: Session, view: SelectedView, command: Select, snap: FolderSummary
) -> None:
    """After the SELECT responses: ``VANISHED (EARLIER)``, then ``FETCH (UID FLAGS MODSEQ)`` of
    the known messages changed since the client's mod-sequence (RFC 7162 §3.2.5.1). A stale
    UIDVALIDITY gets a plain SELECT: the client must forget what it had."""
    params = command.qresync
    if params is None or params.uidvalidity != snap.folder.uidvalidity:
        return
    await session.reply(*vanished(vanished_since(snap, params), earlier=True))
    if params.modseq >= snap.folder.highest_modseq:
        return
    inside = _membership(params.known_uids, snap.folder.uidnext - 1)
    records = await session.services.store.changed_since(view.folder.id, params.modseq)
    for record in sorted(records, key=lambda r: r.uid):
        number = view.msn(record.uid)
        if number is not None and inside(record.uid):
            await session.reply(FetchData(number, session.flag_items(view, record, uid=True)))


def _membership(known: SequenceSet | None, last: int) -> Callable[[int], bool]:
    """A test for "is this UID in the client's known-uids" (all UIDs when there are none)."""
    if known is None:
        return lambda uid: True
    spans = known.resolve(last)
    starts = [span.start for span in spans]

    def inside(uid: int) -> bool:
        at = bisect.bisect_right(starts, uid) - 1
        return at >= 0 and uid in spans[at]

    return inside


async def fetch_vanished(session: Session, view: SelectedView, command: Fetch) -> None:
    """``UID FETCH set items (CHANGEDSINCE m VANISHED)`` (RFC 7162 §3.2.6): first the UIDs of
    ``set`` no longer in the folder, as ``VANISHED (EARLIER)``; ``*`` stands for UIDNEXT-1 so
    that UIDs expunged above the last message are reported too."""
    if not session.qresync:
        raise Bad("QRESYNC is not enabled", "CLIENTBUG")
    if command.changedsince is None:
        raise Bad("VANISHED needs CHANGEDSINCE", "CLIENTBUG")
    snap = await session.services.store.summary(view.folder.id)
    if command.changedsince >= snap.folder.highest_modseq:
        return
    wanted = command.sequence.resolve(snap.folder.uidnext - 1)
    await session.reply(*vanished(missing_spans(snap.uids, wanted), earlier=True))


def moving(handler: Handler) -> Handler:
    """MOVE / UID MOVE under QRESYNC: after ``OK [COPYUID]`` and ``VANISHED``, the tagged OK
    carries the HIGHESTMODSEQ, as for EXPUNGE (RFC 6851 §4.3 puts COPYUID in an untagged OK
    for this reason; RFC 7162 §3.2.7)."""

    async def run(session: Session, command: Copy) -> Done | None:
        done = await handler(session, command)
        view = session.view
        if not session.qresync or view is None or not view.pending_expunge:
            return done
        if not isinstance(done, Done) or done.code is not None:
            return done
        return Done(done.text, (await expunged(session)).code)

    return run


async def expunged(session: Session) -> Done:
    """RFC 7162 §3.2.7: with QRESYNC, EXPUNGE and UID EXPUNGE that removed messages end with
    ``OK [HIGHESTMODSEQ n]``. The VANISHED responses are sent first, so ``n`` is the highest
    mod-sequence of the changes this session has been told about."""
    await session.send_updates(expunge=True)
    view = session.view
    if view is None:
        return Done()
    return Done(code=Code("HIGHESTMODSEQ", (view.highest_modseq,)))
