"""STORE, COPY, MOVE and APPEND (RFC 3501 §6.4.6-7, §6.3.11; UIDPLUS RFC 4315; MOVE RFC 6851;
CONDSTORE ``UNCHANGEDSINCE`` RFC 7162 §3.1.3)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mailbox_store.errors import StoreError
from mailbox_store.models import Delivered, Delivery, FlagMode, MessageRecord
from mss.audit import AuditEvent
from mss.imap.errors import Bad, ImapError, from_store_error, read_only
from mss.imap.fetching import announce_keywords, load_records, selected, target_uids
from mss.imap.session import Done
from mss.imap.view import SelectedView
from mss.wire.imap.command import Append, Copy, Store
from mss.wire.imap.response import Atom, Code, FetchData, Untagged

if TYPE_CHECKING:
    from mss.imap.session import Session

RECENT = "\\Recent"
_MODES = {"+": FlagMode.ADD, "-": FlagMode.REMOVE, "": FlagMode.REPLACE}


def compress(numbers: Iterable[int]) -> str:
    """``1,2,3,7,9,10`` -> ``1:3,7,9:10`` (a sequence set for response codes)."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in spans)


SYSTEM_FLAGS = {f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")}


def _flags(flags: Iterable[str], known: Iterable[str] = ()) -> frozenset[str]:
    """Client flags as stored: system flags in their canonical case (flags are
    case-insensitive, RFC 3501 §2.3.2), a keyword in the spelling the mailbox already uses;
    ``\\Recent`` is the server's to set and dropped; another ``\\`` flag is refused."""
    spelled = {f.lower(): f for f in known}
    out: set[str] = set()
    for flag in flags:
        lower = flag.lower()
        if lower == RECENT.lower():
            continue
        if flag.startswith("\\"):
            if lower not in SYSTEM_FLAGS:
                raise Bad("Unknown system flag", "CLIENTBUG")
            out.add(SYSTEM_FLAGS[lower])
        else:
            out.add(spelled.get(lower, flag))
    return frozenset(out)


async def store(session: Session, command: Store) -> Done:
    view = selected(session)
    if view.readonly:
        raise read_only()
    uids = target_uids(view, command.uid, command.sequence)
    modified: list[int] = []
    records: dict[int, MessageRecord] = {}
    if command.unchangedsince is not None or command.silent:
        records = await load_records(session.services.store, view.folder.id, uids)
    if command.unchangedsince is not None:
        session.condstore = True
        modified = [u for u, r in records.items() if r.modseq > command.unchangedsince]
        uids = [u for u in uids if u in records and u not in set(modified)]
    uids = view.live(uids)
    flags = _flags(command.flags, view.flags)
    if command.mode != "-" and view.add_flags(flags):
        await session.reply(*view.flag_responses())
    try:
        updated = await session.services.store.store_flags(
            view.folder.id, uids, flags, _MODES[command.mode]
        )
    except ValueError as exc:
        raise Bad("Invalid flag", "CLIENTBUG") from exc
    if not command.silent:  # the answers show other sessions' keywords too
        await announce_keywords(session, view, (r.flags for r in updated))
    for record in sorted(updated, key=lambda r: r.uid):
        if not command.silent or _knew(view, records.get(record.uid), record, command, flags):
            # The client has these flags whole: not reported again. After .SILENT it only
            # knows its own change: another session's earlier change is still reported.
            view.own_modseq[record.uid] = record.modseq
        number = view.msn(record.uid)
        if number is None:
            continue
        if not command.silent:
            await session.reply(
                FetchData(number, session.flag_items(view, record, uid=command.uid))
            )
        elif session.condstore:
            items = (("UID", record.uid),) if command.uid else ()
            await session.reply(FetchData(number, (*items, ("MODSEQ", (record.modseq,)))))
    if modified:
        names = modified if command.uid else [n for u in modified if (n := view.msn(u))]
        code = Code("MODIFIED", (Atom(compress(names)),))
        return Done("Conditional STORE failed for some messages", code)
    return Done()


def _knew(
    view: SelectedView,
    before: MessageRecord | None,
    after: MessageRecord,
    command: Store,
    flags: frozenset[str],
) -> bool:
    """Whether the client of a .SILENT STORE knows the flags ``after`` it: it had been told the
    flags ``before`` (read ahead of the STORE's own transaction) and applying its change to them
    gives ``after``. A change another session made in between is thus still reported (issue 3,
    stress checker: a lost flag update)."""
    if before is None:
        return False
    told = before.modseq <= view.known_modseq or view.own_modseq.get(before.uid) == before.modseq
    if command.mode == "+":
        expected = before.flags | flags
    elif command.mode == "-":
        expected = before.flags - flags
    else:
        expected = flags
    return told and after.flags == expected


async def copy(session: Session, command: Copy) -> Done:
    view = selected(session)
    verb = "MOVE" if command.move else "COPY"
    if command.move and view.readonly:
        raise read_only()
    uids = view.live(target_uids(view, command.uid, command.sequence))
    store_ = session.services.store
    dest = await store_.get_folder(session.account, command.mailbox)
    if dest is None:
        raise ImapError("No such mailbox", "TRYCREATE")
    if not uids:
        return Done(f"{verb} completed (nothing to do)")
    try:
        if command.move:
            result = await store_.move_messages(view.folder.id, uids, dest.id)
        else:
            result = await store_.copy_messages(view.folder.id, uids, dest.id)
    except StoreError as exc:
        raise from_store_error(exc, target_missing="TRYCREATE") from exc
    if not result.source_uids:  # all expunged meanwhile: a COPYUID set may not be empty
        return Done(f"{verb} completed (nothing to do)")
    code = Code(
        "COPYUID",
        (result.uidvalidity, Atom(compress(result.source_uids)), Atom(compress(result.dest_uids))),
    )
    if not command.move:
        return Done(f"{verb} completed", code)
    # RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK.
    await session.reply(Untagged("OK", "Moved", code))
    view.pending_expunge.update(uid for uid in result.source_uids if view.msn(uid))
    session.audit(
        AuditEvent.MAILBOX_ACCESSED,
        action="move",
        folder=view.folder.name,
        target=dest.name,
        count=len(result.source_uids),
        protocol="imap",
    )
    return Done(f"{verb} completed")


async def append(session: Session, command: Append) -> Done:
    store_ = session.services.store
    folder = await store_.get_folder(session.account, command.mailbox)
    if folder is None:
        raise ImapError("No such mailbox", "TRYCREATE")
    if not command.message:
        raise Bad("Empty message", "CLIENTBUG")
    target = Delivery(session.account, folder.name, _flags(command.flags))
    try:
        results = await store_.deliver(command.message, [target], command.internal_date)
    except ValueError as exc:
        raise Bad("Invalid flag", "CLIENTBUG") from exc
    result = results[0]
    if not isinstance(result, Delivered):
        raise from_store_error(result, target_missing="TRYCREATE")
    return Done("APPEND completed", Code("APPENDUID", (result.uidvalidity, result.uid)))
