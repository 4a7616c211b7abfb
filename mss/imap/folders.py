"""Mailbox-level commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (LIST-EXTENDED,
LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, STATUS, GETQUOTA, GETQUOTAROOT (RFC 3501 §6.3, 9208).

The hierarchy delimiter is ``/``; one personal namespace; the quota root of every folder is the
account (``""``): storage is counted per BAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbox_store.models import Folder, SpecialUse
from mss.audit import AuditEvent
from mss.imap.errors import Bad, ImapError, no_mailbox
from mss.imap.patterns import Pattern, matches
from mss.imap.session import Done
from mss.wire.imap.command import Create, ListCommand, MailboxCommand, Rename, Status
from mss.wire.imap.response import Atom, Data, Value, mailbox_value

if TYPE_CHECKING:
    from mss.imap.session import Session

DELIMITER = "/"
MAX_NAME = 512
QUOTA_ROOT = ""


def check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or name.startswith(DELIMITER) or name.endswith(DELIMITER):
        raise Bad("Invalid mailbox name", "CLIENTBUG")
    if f"{DELIMITER}{DELIMITER}" in name or any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):
        raise Bad("Invalid mailbox name", "CLIENTBUG")


async def find_folder(session: Session, name: str) -> Folder:
    folder = await session.services.store.get_folder(session.account, name)
    if folder is None:
        raise no_mailbox()
    return folder


async def create(session: Session, command: Create) -> Done:
    # RFC 3501 §6.3.3: a trailing delimiter only declares the intent to create children.
    name = command.mailbox.removesuffix(DELIMITER)
    check_name(name)
    if name == "INBOX":
        raise ImapError("INBOX always exists", "ALREADYEXISTS")
    uses = [SpecialUse(u) for u in command.special_use if u in set(SpecialUse)]
    if len(uses) != len(command.special_use) or len(uses) > 1:
        raise ImapError("Unsupported special use", "USEATTR")  # RFC 6154 §3
    store = session.services.store
    if await store.get_folder(session.account, name) is not None:
        raise ImapError("Mailbox already exists", "ALREADYEXISTS")
    parts = name.split(DELIMITER)
    for depth in range(1, len(parts)):  # RFC 3501 §6.3.3: superiors are created as needed
        parent = DELIMITER.join(parts[:depth])
        if await store.get_folder(session.account, parent) is None:
            await store.create_folder(session.account, parent)
    await store.create_folder(session.account, name, uses[0] if uses else None)
    return Done()


async def delete(session: Session, command: MailboxCommand) -> Done:
    if command.mailbox == "INBOX":
        raise ImapError("INBOX cannot be deleted", "CANNOT")
    folder = await find_folder(session, command.mailbox)
    view = session.view
    await session.services.store.delete_folder(session.account, folder.name)
    session.audit(
        AuditEvent.MAILBOX_ACCESSED, action="delete_folder", folder=folder.name, protocol="imap"
    )
    if view is not None and view.folder.id == folder.id:
        from mss.imap.session import State

        session.view = None
        session.state = State.AUTHENTICATED
    return Done()


async def rename(session: Session, command: Rename) -> Done:
    check_name(command.new)
    await find_folder(session, command.old)
    if command.new == "INBOX":
        raise ImapError("Mailbox already exists", "ALREADYEXISTS")
    store = session.services.store
    if await store.get_folder(session.account, command.new) is not None:
        raise ImapError("Mailbox already exists", "ALREADYEXISTS")
    await store.rename_folder(session.account, command.old, command.new)
    return Done()


async def subscribe(session: Session, command: MailboxCommand) -> Done:
    await find_folder(session, command.mailbox)
    subscribed = command.name == "SUBSCRIBE"
    await session.services.store.set_subscribed(session.account, command.mailbox, subscribed)
    return Done()


def _attributes(
    folder: Folder, names: set[str], *, subscribed: bool, special_use: bool
) -> tuple[Value, ...]:
    prefix = folder.name + DELIMITER
    children = any(other.startswith(prefix) for other in names)
    attrs: list[Value] = [Atom("\\HasChildren" if children else "\\HasNoChildren")]
    if special_use and folder.special_use is not None:
        attrs.append(Atom(str(folder.special_use)))
    if subscribed and folder.subscribed:
        attrs.append(Atom("\\Subscribed"))
    return tuple(attrs)


async def list_command(session: Session, command: ListCommand) -> Done:
    verb = "LSUB" if command.lsub else "LIST"
    if command.patterns == ("",) and not command.selection:
        # RFC 3501 §6.3.8: the delimiter and the root of the reference.
        await session.reply(Data((Atom(verb), (Atom("\\Noselect"),), DELIMITER, "")))
        return Done()
    folders = await session.services.store.list_folders(session.account)
    names = {f.name for f in folders}
    texts = [command.reference + p for p in command.patterns]
    patterns = [(Pattern.compile(t), Pattern.compile(t.upper())) for t in texts]
    only_subscribed = command.lsub or "SUBSCRIBED" in command.selection
    only_special = "SPECIAL-USE" in command.selection
    show_subscribed = "SUBSCRIBED" in command.returns or "SUBSCRIBED" in command.selection
    show_special = (
        not command.returns or "SPECIAL-USE" in command.returns or only_special or command.lsub
    )
    recursive = "RECURSIVEMATCH" in command.selection
    subscribed_names = {f.name for f in folders if f.subscribed}
    for folder in sorted(folders, key=lambda f: (f.name != "INBOX", f.name)):
        if not any(matches(p, folder.name, inbox_pattern=i) for p, i in patterns):
            continue
        # RFC 5258 §3.5: with RECURSIVEMATCH a parent of a subscribed folder is listed too.
        childinfo = recursive and any(
            n.startswith(folder.name + DELIMITER) for n in subscribed_names
        )
        if only_subscribed and not folder.subscribed and not childinfo:
            continue
        if only_special and not folder.special_use:
            continue
        attrs = _attributes(
            folder, names, subscribed=show_subscribed and not command.lsub, special_use=show_special
        )
        values: tuple[Value, ...] = (Atom(verb), attrs, DELIMITER, mailbox_value(folder.name))
        if childinfo:
            values += (("CHILDINFO", ("SUBSCRIBED",)),)
        await session.reply(Data(values))
        if command.status_items:
            await session.reply(await status_response(session, folder, command.status_items))
    return Done()


async def status_response(session: Session, folder: Folder, items: tuple[str, ...]) -> Data:
    snap = await session.services.store.summary(folder.id)
    folder = snap.folder
    values: dict[str, int] = {
        "MESSAGES": len(snap.uids),
        "RECENT": 0,  # \Recent belongs to the session that claims it (RFC 3501 §2.3.2)
        "UIDNEXT": folder.uidnext,
        "UIDVALIDITY": folder.uidvalidity,
        "UNSEEN": snap.unseen,
        "HIGHESTMODSEQ": folder.highest_modseq,
    }
    if "SIZE" in items:
        records = await session.services.store.list_messages(folder.id)
        values["SIZE"] = sum(r.size for r in records)
    if "HIGHESTMODSEQ" in items:
        session.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
    pairs: list[Value] = []
    for item in items:
        pairs += [Atom(item), values[item]]
    return Data((Atom("STATUS"), mailbox_value(folder.name), tuple(pairs)))


async def status(session: Session, command: Status) -> Done:
    folder = await find_folder(session, command.mailbox)
    await session.reply(await status_response(session, folder, command.items))
    return Done()


async def _quota_data(session: Session) -> Data:
    usage = await session.services.store.usage(session.account)
    limit = usage.quota
    if limit is None:
        return Data((Atom("QUOTA"), QUOTA_ROOT, ()))
    # RFC 9208 §5.1: STORAGE is counted in units of 1024 octets.
    return Data(
        (Atom("QUOTA"), QUOTA_ROOT, (Atom("STORAGE"), -(-usage.bytes // 1024), limit // 1024))
    )


async def getquotaroot(session: Session, command: MailboxCommand) -> Done:
    folder = await find_folder(session, command.mailbox)
    await session.reply(Data((Atom("QUOTAROOT"), mailbox_value(folder.name), QUOTA_ROOT)))
    await session.reply(await _quota_data(session))
    return Done()


async def getquota(session: Session, command: MailboxCommand) -> Done:
    if command.mailbox != QUOTA_ROOT:
        raise ImapError("No such quota root", "NONEXISTENT")
    await session.reply(await _quota_data(session))
    return Done()
