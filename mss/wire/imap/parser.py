"""The IMAP command parser: the bytes of one command (its lines and literals) to a value.

:func:`parse_command` returns a command, or a :class:`LiteralRequest` when the input ends with a
literal announcement (the session reads the literal and the next line, appends them and calls
again), or raises :class:`ImapSyntaxError` — nothing else, for any input.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from mss.wire.imap import command as c
from mss.wire.imap.dates import read_date_time
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.fetch import read_fetch_items
from mss.wire.imap.lexer import (
    DEFAULT_LIMITS,
    MAX_NUMBER64,
    Limits,
    LiteralRequest,
    NeedLiteral,
    Reader,
)
from mss.wire.imap.lists import read_list, read_lsub, read_mailbox, read_status_items
from mss.wire.imap.qresync import SelectParams, read_select_params
from mss.wire.imap.search import read_search_keys

Parser = Callable[[Reader, str], c.AnyCommand]


def parse_command(data: bytes, limits: Limits = DEFAULT_LIMITS) -> c.AnyCommand | LiteralRequest:
    """Parse ``tag SP command [arguments] CRLF`` (with any literals inline)."""
    reader = Reader(data, limits)
    try:
        reader.tag = reader.tag_text()
        reader.sp()
        name = reader.keyword()
        parser = _PARSERS.get(name)
        if parser is None:
            raise reader.error("unknown command")
        command = parser(reader, name)
        reader.end()
        return command
    except NeedLiteral as need:
        return need.request


def _no_args(reader: Reader, name: str) -> c.AnyCommand:
    return c.NoArgs(_tag(reader), name)


def _tag(reader: Reader) -> str:
    return reader.tag or ""


def _authenticate(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    mechanism = reader.atom().upper()
    initial: bytes | None = None
    if reader.take(b" "):
        # RFC 4959 SASL-IR: base64, or "=" for an empty initial response.
        text = reader.chars(
            frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="),
            "base64",
        )
        try:
            initial = b"" if text == "=" else base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise reader.error("bad base64 initial response") from exc
    return c.Authenticate(_tag(reader), mechanism, initial)


def _login(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    username = reader.astring()
    reader.sp()
    return c.Login(_tag(reader), username, reader.astring())


def _select(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    mailbox = read_mailbox(reader)
    params = read_select_params(reader) if reader.take(b" ") else SelectParams()
    return c.Select(
        _tag(reader),
        mailbox,
        readonly=name == "EXAMINE",
        condstore=params.condstore,
        qresync=params.qresync,
    )


def _flag(reader: Reader) -> str:
    return "\\" + reader.atom() if reader.take(b"\\") else reader.atom()


def _create(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    mailbox = read_mailbox(reader)
    uses: tuple[str, ...] = ()
    if reader.take(b" "):
        # RFC 6154 §3: CREATE name (USE (\Drafts ...))
        reader.expect(b"(", "'('")
        if reader.keyword() != "USE":
            raise reader.error("unknown CREATE parameter")
        reader.sp()
        uses = reader.paren_list(lambda: _flag(reader))
        reader.expect(b")", "')'")
    return c.Create(_tag(reader), mailbox, uses)


def _mailbox_command(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    target = reader.astring() if name == "GETQUOTA" else read_mailbox(reader)
    return c.MailboxCommand(_tag(reader), name, target)


def _rename(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    old = read_mailbox(reader)
    reader.sp()
    return c.Rename(_tag(reader), old, read_mailbox(reader))


def _list(reader: Reader, name: str) -> c.AnyCommand:
    return read_list(reader) if name == "LIST" else read_lsub(reader)


def _status(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    mailbox = read_mailbox(reader)
    reader.sp()
    return c.Status(_tag(reader), mailbox, read_status_items(reader))


def _append(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    mailbox = read_mailbox(reader)
    reader.sp()
    flags: tuple[str, ...] = ()
    if reader.at(b"("):
        flags = reader.paren_list(lambda: _flag(reader))
        reader.sp()
    internal_date = None
    if reader.at(b'"'):
        internal_date = read_date_time(reader)
        reader.sp()
    cap = reader.limits.max_append_literal
    # RFC 3516 §4.1: a literal8 carries the message as sent, binary parts and NUL included.
    message = reader.literal8(cap) if reader.at(b"~") else reader.literal(cap)
    return c.Append(_tag(reader), mailbox, flags, internal_date, message)


def _search(reader: Reader, name: str, uid: bool = False) -> c.AnyCommand:
    reader.sp()
    returns: tuple[str, ...] | None = None
    if reader.at_ci(b"RETURN "):
        reader.pos += 7
        returns = reader.paren_list(reader.keyword)
        if not set(returns) <= {"MIN", "MAX", "ALL", "COUNT"}:
            raise reader.error("unknown SEARCH return option")
        reader.sp()
    charset = None
    if reader.at_ci(b"CHARSET "):
        reader.pos += 8
        charset = reader.astring().upper()
        reader.sp()
    return c.Search(_tag(reader), uid, read_search_keys(reader), charset, returns)


def _modifiers(reader: Reader, allowed: frozenset[str]) -> dict[str, int | None]:
    """``(NAME value NAME ...)`` after FETCH/STORE (RFC 7162); VANISHED has no value."""
    found: dict[str, int | None] = {}

    def item() -> str:
        key = reader.keyword()
        if key not in allowed or key in found:
            raise reader.error("bad command modifier")
        found[key] = None
        if key != "VANISHED":
            reader.sp()
            found[key] = reader.number(MAX_NUMBER64)
        return key

    reader.paren_list(item, allow_empty=False)
    return found


def _fetch(reader: Reader, name: str, uid: bool = False) -> c.AnyCommand:
    reader.sp()
    sequence = reader.sequence_set()
    reader.sp()
    items = read_fetch_items(reader)
    mods: dict[str, int | None] = {}
    if reader.take(b" "):
        mods = _modifiers(reader, frozenset({"CHANGEDSINCE", "VANISHED"}))
    vanished = "VANISHED" in mods
    if vanished and not uid:
        raise reader.error("VANISHED needs UID FETCH")
    changed = mods.get("CHANGEDSINCE")
    return c.Fetch(_tag(reader), uid, sequence, items, changed, vanished)


def _store(reader: Reader, name: str, uid: bool = False) -> c.AnyCommand:
    reader.sp()
    sequence = reader.sequence_set()
    reader.sp()
    unchanged = None
    if reader.at(b"("):
        unchanged = _modifiers(reader, frozenset({"UNCHANGEDSINCE"}))["UNCHANGEDSINCE"]
        reader.sp()
    mode = "+" if reader.take(b"+") else "-" if reader.take(b"-") else ""
    action = reader.keyword()
    if action not in ("FLAGS", "FLAGS.SILENT"):
        raise reader.error("expected FLAGS")
    reader.sp()
    if reader.at(b"("):
        flags = reader.paren_list(lambda: _flag(reader))
    else:
        flags = (_flag(reader),)
        while reader.take(b" "):
            flags += (_flag(reader),)
            if len(flags) > reader.limits.max_items:
                raise reader.error("too many flags")
    silent = action == "FLAGS.SILENT"
    return c.Store(_tag(reader), uid, sequence, mode, silent, flags, unchanged)


def _copy(reader: Reader, name: str, uid: bool = False) -> c.AnyCommand:
    reader.sp()
    sequence = reader.sequence_set()
    reader.sp()
    return c.Copy(_tag(reader), uid, sequence, read_mailbox(reader), move=name == "MOVE")


def _uid(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    sub = reader.keyword()
    if sub == "EXPUNGE":
        reader.sp()
        return c.UidExpunge(_tag(reader), reader.sequence_set())
    parsers = {"FETCH": _fetch, "SEARCH": _search, "STORE": _store, "COPY": _copy, "MOVE": _copy}
    parser = parsers.get(sub)
    if parser is None:
        raise reader.error("unknown UID command")
    return parser(reader, sub, True)


def _id(reader: Reader, name: str) -> c.AnyCommand:
    reader.sp()
    if reader.at_ci(b"NIL"):
        reader.pos += 3
        return c.Id(_tag(reader), None)

    def pair() -> tuple[str, str | None]:
        key = reader.text(reader.string())
        reader.sp()
        return key, reader.nstring()

    reader.expect(b"(", "'('")
    pairs = [pair()] if not reader.at(b")") else []
    while reader.take(b" "):
        pairs.append(pair())
        if len(pairs) > 30:  # RFC 2971 §3.3
            raise reader.error("too many ID fields")
    reader.expect(b")", "')'")
    return c.Id(_tag(reader), tuple(pairs))


def _enable(reader: Reader, name: str) -> c.AnyCommand:
    capabilities: list[str] = []
    while reader.take(b" "):
        capabilities.append(reader.keyword())
        if len(capabilities) > reader.limits.max_items:
            raise reader.error("too many capabilities")
    if not capabilities:
        raise reader.error("ENABLE needs a capability")
    return c.Enable(_tag(reader), tuple(capabilities))


_PARSERS: dict[str, Parser] = {
    **dict.fromkeys(c.NO_ARGUMENT_COMMANDS, _no_args),
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "SELECT": _select,
    "EXAMINE": _select,
    "CREATE": _create,
    **dict.fromkeys(("DELETE", "SUBSCRIBE", "UNSUBSCRIBE"), _mailbox_command),
    **dict.fromkeys(("GETQUOTAROOT", "GETQUOTA"), _mailbox_command),
    "RENAME": _rename,
    "LIST": _list,
    "LSUB": _list,
    "STATUS": _status,
    "APPEND": _append,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy,
    "MOVE": _copy,
    "UID": _uid,
    "ID": _id,
    "ENABLE": _enable,
}

__all__ = ["ImapSyntaxError", "LiteralRequest", "parse_command"]
