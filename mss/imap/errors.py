"""The one place where IMAP sessions turn failures into replies (``NO [CODE]`` / ``BAD``).

Handlers raise :class:`ImapError` (it renders itself); store errors are translated by
:func:`from_store_error`. Any other exception becomes ``NO [SERVERBUG]`` in the session, with its
traceback logged (never the client's data).
"""

from __future__ import annotations

from mailbox_store import errors as store
from mss.wire.imap.response import Code, Tagged, Value


class ImapError(Exception):
    """A command failed; ``status`` is ``NO`` or ``BAD``, ``code`` the RFC 5530 response code."""

    status = "NO"

    def __init__(self, text: str, code: str | None = None, *args: Value) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.code_args = args

    def response(self, tag: str) -> Tagged:
        code = None if self.code is None else Code(self.code, tuple(self.code_args))
        return Tagged(tag, self.status, self.text, code)


class Bad(ImapError):
    """``BAD``: the command is not valid here (wrong state, unknown, malformed)."""

    status = "BAD"


class CloseConnection(Exception):
    """End the connection after sending ``* BYE text``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def wrong_state(name: str) -> Bad:
    return Bad(f"{name} is not valid in this state", "CLIENTBUG")


def read_only() -> ImapError:
    return ImapError("The mailbox is open read-only", "CANNOT")


def no_mailbox() -> ImapError:
    return ImapError("No such mailbox", "NONEXISTENT")


def from_store_error(exc: store.StoreError, *, target_missing: str = "NONEXISTENT") -> ImapError:
    """Translate a mailbox store error; ``target_missing`` is ``TRYCREATE`` for APPEND/COPY/MOVE."""
    if isinstance(exc, store.UnknownFolder):
        return ImapError("No such mailbox", target_missing)
    if isinstance(exc, store.UnknownMessage):
        return ImapError("Some messages were expunged meanwhile", "EXPUNGEISSUED")
    if isinstance(exc, store.FolderExists):
        return ImapError("Mailbox already exists", "ALREADYEXISTS")
    if isinstance(exc, store.QuotaExceeded):
        return ImapError("Mailbox is over its quota", "OVERQUOTA")
    if isinstance(exc, store.HasChildren):
        return ImapError("Mailbox has children: delete them first", "CANNOT")
    if isinstance(exc, store.FolderProtected):
        return ImapError("That operation is not allowed on this mailbox", "CANNOT")
    if exc.temporary:
        return ImapError("Storage is unavailable, try again later", "UNAVAILABLE")
    return ImapError("The operation failed", "SERVERBUG")
