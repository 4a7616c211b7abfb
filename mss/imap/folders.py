"""Mailbox-level commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (LIST-EXTENDED,
LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, STATUS, GETQUOTA, GETQUOTAROOT (RFC 3501 §6.3, 9208).

The hierarchy delimiter is ``/``; one personal namespace; the quota root of every folder is the
account (``""``): storage is counted per BAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbox_store.logic import canonical_name, superiors
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
    if "*" in name or "%" in name:  # RFC 3501 §5.1 advises against them: refused
        raise ImapError("Mailbox names may not contain wildcards", "CANNOT")


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
    # RFC 3501 §6.3.6: subscribing is the client's choice; CREATE does not subscribe.
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
    # RFC 9051 §6.3.6: subscriptions are names and are not renamed (nor are the superiors the
    # rename creates subscribed); the client re-subscribes if it wants to.
    await store.rename_folder(session.account, command.old, command.new)
    return Done()


async def subscribe(session: Session, command: MailboxCommand) -> Done:
    store = session.services.store
    if command.name == "SUBSCRIBE":
        # RFC 3501 §6.3.6, RFC 9051 §6.3.7: a subscription is a NAME; the mailbox need not
        # exist (imaptest ``subscribe``, ``listext``), and survives its DELETE and RENAME.
        check_name(command.mailbox)
        await _check_room(session, command.mailbox)
        await store.add_subscription(session.account, command.mailbox)
    else:
        # RFC 9051 §6.3.8: OK also when the name is not subscribed.
        await store.remove_subscription(session.account, command.mailbox)
    return Done()


async def _check_room(session: Session, name: str) -> None:
    """Names need no folder, so their number is capped (``imap.max_subscriptions``): NO
    [LIMIT] (RFC 5530) past it; subscribing a name again is always OK."""
    names = await session.services.store.subscriptions(session.account)
    full = len(names) >= session.services.settings.max_subscriptions
    if full and canonical_name(name) not in names:
        raise ImapError("Too many subscriptions", "LIMIT")


class _Tree:
    """The account's folders and subscriptions as one LIST/LSUB sees them."""

    def __init__(self, folders: list[Folder], subscribed: list[str]) -> None:
        self.folders = {f.name: f for f in folders}
        self.subscribed = set(subscribed)
        # Every name with an existing child: \HasChildren in one look-up (RFC 5258 §4).
        self.parents = {s for name in self.folders for s in superiors(name)}

    def attributes(
        self, name: str, *, subscribed: bool, special_use: bool
    ) -> tuple[list[Value], Folder | None]:
        """The attributes of ``name`` and its folder (None: it does not exist)."""
        folder = self.folders.get(name)
        attrs: list[Value] = []
        if folder is None:
            attrs.append(Atom("\\NonExistent"))  # RFC 5258 §3: implies \Noselect
        else:
            attrs.append(Atom("\\HasChildren" if name in self.parents else "\\HasNoChildren"))
            if special_use and folder.special_use is not None:
                attrs.append(Atom(str(folder.special_use)))
        if subscribed and name in self.subscribed:
            attrs.append(Atom("\\Subscribed"))
        return attrs, folder

    def with_unmatched_subscribed_child(self, matched: _Matcher) -> set[str]:
        """RFC 5258 §3.5 (RECURSIVEMATCH), RFC 3501 §6.3.9 (LSUB): the names with a subscribed
        descendant that the patterns do not match themselves."""
        return {s for name in self.subscribed if not matched(name) for s in superiors(name)}


def _sorted(names: set[str]) -> list[str]:
    return sorted(names, key=lambda n: (n != "INBOX", n))


class _Matcher:
    """The patterns of one LIST/LSUB, reference prepended (RFC 3501 §6.3.8)."""

    def __init__(self, reference: str, patterns: tuple[str, ...]) -> None:
        texts = [reference + p for p in patterns]
        self.patterns = [(Pattern.compile(t), Pattern.compile(t.upper())) for t in texts]
        # RFC 3501 §5.1: "inbox/%" and "Inbox*" reach INBOX's children too.
        self.inbox = [Pattern.compile("INBOX" + t[5:]) for t in texts if _inbox_head(t)]

    def __call__(self, name: str) -> bool:
        if any(matches(p, name, inbox_pattern=i) for p, i in self.patterns):
            return True
        return name.startswith("INBOX" + DELIMITER) and any(p.matches(name) for p in self.inbox)


def _inbox_head(pattern: str) -> bool:
    return pattern[:5].upper() == "INBOX" and pattern[5:6] in ("", DELIMITER, "*", "%")


async def list_command(session: Session, command: ListCommand) -> Done:
    verb = "LSUB" if command.lsub else "LIST"
    if command.patterns == ("",) and not command.selection:
        # RFC 3501 §6.3.8: the delimiter and the root of the reference.
        await session.reply(Data((Atom(verb), (Atom("\\Noselect"),), DELIMITER, "")))
        return Done()
    store = session.services.store
    folders = await store.list_folders(session.account)
    wanted = command.lsub or "SUBSCRIBED" in command.selection + command.returns
    tree = _Tree(folders, await store.subscriptions(session.account) if wanted else [])
    matched = _Matcher(command.reference, command.patterns)
    if command.lsub:
        await _lsub(session, tree, matched)
    elif "SUBSCRIBED" in command.selection:
        await _list_subscribed(session, command, tree, matched)
    else:
        await _list_existing(session, command, tree, matched)
    return Done()


async def _list_existing(
    session: Session, command: ListCommand, tree: _Tree, matched: _Matcher
) -> None:
    """LIST of the folders that exist (RFC 3501 §6.3.8; RFC 5258 SPECIAL-USE selection,
    RETURN (SUBSCRIBED), RFC 6154 §2 special-use attributes)."""
    only_special = "SPECIAL-USE" in command.selection
    show_subscribed = "SUBSCRIBED" in command.returns
    show_special = not command.returns or "SPECIAL-USE" in command.returns or only_special
    for name in _sorted(set(tree.folders)):
        folder = tree.folders[name]
        if not matched(name) or (only_special and folder.special_use is None):
            continue
        attrs, _ = tree.attributes(name, subscribed=show_subscribed, special_use=show_special)
        await _reply_list(session, command, "LIST", name, attrs, folder)


async def _list_subscribed(
    session: Session, command: ListCommand, tree: _Tree, matched: _Matcher
) -> None:
    """RFC 5258 §3: LIST (SUBSCRIBED) lists subscribed NAMES, \\NonExistent where no folder
    has the name; with RECURSIVEMATCH (§3.5) also the parents of subscribed names the patterns
    miss, with CHILDINFO."""
    only_special = "SPECIAL-USE" in command.selection
    show_special = not command.returns or "SPECIAL-USE" in command.returns or only_special
    recursive = "RECURSIVEMATCH" in command.selection
    parents = tree.with_unmatched_subscribed_child(matched) if recursive else set()
    for name in _sorted(tree.subscribed | parents):
        if not matched(name):
            continue
        attrs, folder = tree.attributes(name, subscribed=True, special_use=show_special)
        chosen = name in tree.subscribed and (
            not only_special or (folder is not None and folder.special_use is not None)
        )
        childinfo = name in parents
        if not chosen and not childinfo:
            continue
        if not chosen:  # listed for its child only: not \Subscribed itself
            attrs = [a for a in attrs if a != Atom("\\Subscribed")]
        extended: tuple[Value, ...] = (("CHILDINFO", ("SUBSCRIBED",)),) if childinfo else ()
        await _reply_list(session, command, "LIST", name, attrs, folder, extended)


async def _lsub(session: Session, tree: _Tree, matched: _Matcher) -> None:
    """RFC 3501 §6.3.9: the subscribed names matching, with \\Noselect where no folder has the
    name; an unsubscribed parent whose subscribed child the pattern misses (``%``) is listed
    with \\Noselect."""
    parents = tree.with_unmatched_subscribed_child(matched)
    for name in _sorted(tree.subscribed | parents):
        if not matched(name) or (name not in tree.subscribed and name not in parents):
            continue
        attrs, folder = tree.attributes(name, subscribed=False, special_use=True)
        if folder is None:
            attrs = [Atom("\\Noselect")]
        elif name not in tree.subscribed:
            attrs.insert(0, Atom("\\Noselect"))
        await session.reply(Data((Atom("LSUB"), tuple(attrs), DELIMITER, mailbox_value(name))))


async def _reply_list(
    session: Session,
    command: ListCommand,
    verb: str,
    name: str,
    attrs: list[Value],
    folder: Folder | None,
    extended: tuple[Value, ...] = (),
) -> None:
    values = (Atom(verb), tuple(attrs), DELIMITER, mailbox_value(name), *extended)
    await session.reply(Data(values))
    if command.status_items and folder is not None:  # RFC 5819 §2: none for \NonExistent
        await session.reply(await status_response(session, folder, command.status_items))


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
