"""SELECT, EXAMINE, CLOSE, UNSELECT, CHECK, EXPUNGE, UID EXPUNGE and IDLE (RFC 3501 §6.3.1-2,
§6.4.1-3, UIDPLUS RFC 4315, UNSELECT RFC 3691, IDLE RFC 2177, CONDSTORE RFC 7162)."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from mss.audit import AuditEvent
from mss.imap import qresync
from mss.imap.errors import Bad, read_only
from mss.imap.folders import find_folder
from mss.imap.session import Done, State
from mss.imap.view import SelectedView
from mss.wire.imap.command import NoArgs, Select, UidExpunge
from mss.wire.imap.framing import is_idle_done
from mss.wire.imap.response import Atom, Code, Continuation, Data, Untagged

if TYPE_CHECKING:
    from mss.imap.session import Session

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


async def select(session: Session, command: Select) -> Done:
    """SELECT/EXAMINE; on failure the session is left authenticated (RFC 3501 §6.3.1)."""
    qresync.check_select(session, command)
    await qresync.close_previous(session)  # [CLOSED], RFC 7162 §3.2.11
    session.view = None
    session.state = State.AUTHENTICATED
    session.take_changes()  # what happened before this snapshot is in it
    folder = await find_folder(session, command.mailbox)
    store = session.services.store
    snap = await store.summary(folder.id)
    folder = snap.folder
    uids = list(snap.uids)
    recent: set[int] = set()
    if not command.readonly:
        first = await store.claim_recent(folder.id, folder.uidnext)  # what this snapshot holds
        recent = set(uids[bisect.bisect_left(uids, first) :])
    view = SelectedView(folder, command.readonly, uids, folder.highest_modseq, recent)
    view.known_modseq = folder.highest_modseq
    if command.condstore:
        session.condstore = True
    view.flags = set(SYSTEM_FLAGS) | set(snap.flags_in_use)
    await session.reply(
        *view.flag_responses(),
        Data((len(uids), Atom("EXISTS"))),
        Data((len(recent), Atom("RECENT"))),
    )
    if snap.first_unseen_uid is not None:
        number = view.msn(snap.first_unseen_uid)
        if number is not None:
            await session.reply(Untagged("OK", "First unseen", Code("UNSEEN", (number,))))
    await session.reply(
        Untagged("OK", "UIDs valid", Code("UIDVALIDITY", (folder.uidvalidity,))),
        Untagged("OK", "Predicted next UID", Code("UIDNEXT", (folder.uidnext,))),
        Untagged("OK", "Highest", Code("HIGHESTMODSEQ", (folder.highest_modseq,))),
    )
    await qresync.resync(session, view, command, snap)  # RFC 7162 §3.2.5.1
    session.view = view
    session.state = State.SELECTED
    action = "examine" if command.readonly else "select"
    session.audit(AuditEvent.MAILBOX_ACCESSED, action=action, folder=folder.name, protocol="imap")
    mode = "READ-ONLY" if command.readonly else "READ-WRITE"
    return Done(f"{action.upper()} completed", Code(mode))


async def close(session: Session, command: NoArgs) -> Done:
    """CLOSE expunges silently (unless read-only); UNSELECT does not (RFC 3691)."""
    view = session.view
    if view is not None and command.name == "CLOSE" and not view.readonly:
        gone = await session.services.store.expunge(view.folder.id)
        _audit_expunge(session, view.folder.name, len(gone))
    session.view = None
    session.state = State.AUTHENTICATED
    return Done()


async def expunge(session: Session, command: NoArgs | UidExpunge) -> Done:
    view = session.view
    if view is None:
        raise Bad("No mailbox selected")
    if view.readonly:
        raise read_only()
    uids = None
    if isinstance(command, UidExpunge):
        uids = view.resolve(command.sequence, uid=True)
        if not uids:
            return Done()
    gone = await session.services.store.expunge(view.folder.id, uids)
    view.pending_expunge.update(uid for uid in gone if view.msn(uid))
    _audit_expunge(session, view.folder.name, len(gone))
    if session.qresync and gone:
        return await qresync.expunged(session)  # VANISHED, then OK [HIGHESTMODSEQ]
    return Done()  # the EXPUNGE responses follow as updates


def _audit_expunge(session: Session, folder: str, count: int) -> None:
    if count:
        session.audit(
            AuditEvent.MAILBOX_ACCESSED,
            action="expunge",
            folder=folder,
            count=count,
            protocol="imap",
        )


async def idle(session: Session, command: NoArgs) -> Done:
    """RFC 2177: push updates until ``DONE``; silence beyond the idle timeout logs out."""
    await session.reply(Continuation("idling"))
    await session.conn.drain()
    line = await session.idle()  # raises ConnectionLost on timeout or close
    if not is_idle_done(line):
        raise Bad("Expected DONE", "CLIENTBUG")
    return Done("IDLE terminated")
