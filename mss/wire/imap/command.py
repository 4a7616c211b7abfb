"""IMAP commands as frozen values (RFC 3501 §6 and the extensions we speak).

Mailbox names are already decoded from modified UTF-7, ``INBOX`` in any case reads ``INBOX``.
Flags keep their spelling (``\\Seen``, ``$Forwarded``); keywords (``SELECT`` ...) are upper case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mss.wire.imap.fetch import FetchAttr
from mss.wire.imap.qresync import QresyncParams
from mss.wire.imap.search import SearchKey
from mss.wire.imap.sequence import SequenceSet

NO_ARGUMENT_COMMANDS = frozenset(
    {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE"}
    | {"IDLE", "NAMESPACE"}
)


@dataclass(frozen=True, slots=True)
class Command:
    """Base: every command has its tag."""

    tag: str


@dataclass(frozen=True, slots=True)
class NoArgs(Command):
    """CAPABILITY, NOOP, LOGOUT, STARTTLS, CHECK, CLOSE, UNSELECT, EXPUNGE, IDLE, NAMESPACE."""

    name: str


@dataclass(frozen=True, slots=True)
class Authenticate(Command):
    """RFC 3501 §6.2.2; ``initial_response`` from SASL-IR (RFC 4959), ``b""`` for ``=``."""

    mechanism: str
    initial_response: bytes | None = None


@dataclass(frozen=True, slots=True, repr=False)
class Login(Command):
    """RFC 3501 §6.2.3. The repr hides the password so it never reaches a log."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Login(tag={self.tag!r}, username={self.username!r}, password=<hidden>)"


@dataclass(frozen=True, slots=True)
class Select(Command):
    """SELECT, or EXAMINE when ``readonly``; ``condstore`` and ``qresync`` from the RFC 7162
    parameters."""

    mailbox: str
    readonly: bool = False
    condstore: bool = False
    qresync: QresyncParams | None = None


@dataclass(frozen=True, slots=True)
class Create(Command):
    """RFC 3501 §6.3.3, with ``USE (...)`` of RFC 6154 (CREATE-SPECIAL-USE)."""

    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MailboxCommand(Command):
    """DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTAROOT, GETQUOTA: a name and one argument."""

    name: str
    mailbox: str


@dataclass(frozen=True, slots=True)
class Rename(Command):
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class ListCommand(Command):
    """LIST (with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE) or LSUB."""

    reference: str
    patterns: tuple[str, ...]
    lsub: bool = False
    selection: tuple[str, ...] = ()  # SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE
    returns: tuple[str, ...] = ()  # SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS
    status_items: tuple[str, ...] = ()  # with RETURN (STATUS (...))


@dataclass(frozen=True, slots=True)
class Status(Command):
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, repr=False)
class Append(Command):
    """RFC 3501 §6.3.11. The repr leaves the message out (never log content)."""

    mailbox: str
    flags: tuple[str, ...]
    internal_date: datetime | None
    message: bytes

    def __repr__(self) -> str:
        return f"Append(tag={self.tag!r}, mailbox={self.mailbox!r}, size={len(self.message)})"


@dataclass(frozen=True, slots=True)
class UidExpunge(Command):
    """UID EXPUNGE (RFC 4315)."""

    sequence: SequenceSet


@dataclass(frozen=True, slots=True)
class Search(Command):
    """SEARCH / UID SEARCH; ``returns`` are ESEARCH options (RFC 4731), ``None`` if absent."""

    uid: bool
    key: SearchKey
    charset: str | None = None
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Fetch(Command):
    uid: bool
    sequence: SequenceSet
    items: tuple[FetchAttr, ...]
    changedsince: int | None = None  # RFC 7162
    vanished: bool = False  # RFC 7162 (QRESYNC)


@dataclass(frozen=True, slots=True)
class Store(Command):
    """STORE with ``mode`` ``""``, ``"+"`` or ``"-"``; ``unchangedsince`` from RFC 7162."""

    uid: bool
    sequence: SequenceSet
    mode: str
    silent: bool
    flags: tuple[str, ...]
    unchangedsince: int | None = None


@dataclass(frozen=True, slots=True)
class Copy(Command):
    """COPY, or MOVE (RFC 6851) when ``move``."""

    uid: bool
    sequence: SequenceSet
    mailbox: str
    move: bool = False


@dataclass(frozen=True, slots=True)
class Id(Command):
    """RFC 2971; ``None`` for ``ID NIL``."""

    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class Enable(Command):
    """RFC 5161."""

    capabilities: tuple[str, ...] = field(default=())


AnyCommand = (
    NoArgs
    | Authenticate
    | Login
    | Select
    | Create
    | MailboxCommand
    | Rename
    | ListCommand
    | Status
    | Append
    | UidExpunge
    | Search
    | Fetch
    | Store
    | Copy
    | Id
    | Enable
)
