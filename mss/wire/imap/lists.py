"""Mailbox names and the LIST family: LIST (RFC 3501, LIST-EXTENDED RFC 5258, LIST-STATUS
RFC 5819, SPECIAL-USE RFC 6154), LSUB, and STATUS items."""

from __future__ import annotations

from mss.wire.imap.command import ListCommand
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.lexer import Reader
from mss.wire.imap.utf7 import decode_mailbox

HIERARCHY_DELIMITER = "/"  # the server's (mss.imap.folders.DELIMITER)
SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
STATUS_ITEMS = frozenset(
    {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE"}
)


def _decode(reader: Reader, raw: str) -> str:
    try:
        name = decode_mailbox(raw)
    except ImapSyntaxError as exc:
        raise reader.error(str(exc)) from exc
    # RFC 3501 §5.1: INBOX is case-insensitive, also as the head of its children's names.
    if name.upper() == "INBOX":
        return "INBOX"
    if name[:6].upper() == "INBOX" + HIERARCHY_DELIMITER:
        return "INBOX" + name[5:]
    return name


def read_mailbox(reader: Reader) -> str:
    """A mailbox name (astring), decoded from modified UTF-7."""
    return _decode(reader, reader.astring())


def read_status_items(reader: Reader) -> tuple[str, ...]:
    items = reader.paren_list(reader.keyword, allow_empty=False)
    if not set(items) <= STATUS_ITEMS:
        raise reader.error("unknown STATUS item")
    return items


def _pattern(reader: Reader) -> str:
    return _decode(reader, reader.list_mailbox())


def _return_option(reader: Reader, status: list[str]) -> str:
    option = reader.keyword()
    if option not in RETURN_OPTIONS:
        raise reader.error("unknown LIST return option")
    if option == "STATUS":
        reader.sp()
        status.extend(read_status_items(reader))
    return option


def read_list(reader: Reader) -> ListCommand:
    """``LIST [SP (selection)] SP reference SP (pattern / (patterns)) [SP RETURN (options)]``."""
    reader.sp()
    selection: tuple[str, ...] = ()
    if reader.at(b"("):
        selection = reader.paren_list(reader.keyword)
        if not set(selection) <= SELECTION_OPTIONS:
            raise reader.error("unknown LIST selection option")
        if "RECURSIVEMATCH" in selection and len(selection) == 1:
            raise reader.error("RECURSIVEMATCH needs another selection option")  # RFC 5258 §3
        reader.sp()
    reference = read_mailbox(reader)
    reader.sp()
    if reader.at(b"("):
        patterns = reader.paren_list(lambda: _pattern(reader), allow_empty=False)
    else:
        patterns = (_pattern(reader),)
    returns: tuple[str, ...] = ()
    status: list[str] = []
    if reader.take(b" "):
        if reader.keyword() != "RETURN":
            raise reader.error("expected RETURN")
        reader.sp()
        returns = reader.paren_list(lambda: _return_option(reader, status))
    tag = reader.tag or ""
    return ListCommand(tag, reference, patterns, False, selection, returns, tuple(status))


def read_lsub(reader: Reader) -> ListCommand:
    reader.sp()
    reference = read_mailbox(reader)
    reader.sp()
    return ListCommand(reader.tag or "", reference, (_pattern(reader),), lsub=True)
