"""The command table: which states each command is valid in and which handler runs it.

``expunge_ok`` is False for FETCH, STORE and SEARCH (RFC 3501 §7.4.1: no EXPUNGE response while
they run, since the client may be using message numbers); their UID forms may report it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mss.imap import basic, fetching, folders, login, messages, qresync, searching, selection
from mss.imap.session import Done, State
from mss.wire.imap import command as c

ANY = frozenset(State) - {State.LOGOUT}
NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
AUTH_ONLY = frozenset({State.AUTHENTICATED})
SELECTED = frozenset({State.SELECTED})
_NO_EXPUNGE = frozenset({"FETCH", "STORE", "SEARCH"})

Handler = Callable[[Any, Any], Awaitable[Done | None]]


@dataclass(frozen=True, slots=True)
class Entry:
    states: frozenset[State]
    handler: Handler

    def expunge_ok(self, command: c.AnyCommand) -> bool:
        return verb_of(command) not in _NO_EXPUNGE


COMMANDS: dict[str, Entry] = {
    "CAPABILITY": Entry(ANY, basic.capability),
    "NOOP": Entry(ANY, basic.noop),
    "LOGOUT": Entry(ANY, basic.logout),
    "ID": Entry(ANY, basic.id_command),
    "STARTTLS": Entry(NOT_AUTH, login.starttls),
    "LOGIN": Entry(NOT_AUTH, login.login),
    "AUTHENTICATE": Entry(NOT_AUTH, login.authenticate),
    "ENABLE": Entry(AUTH_ONLY, qresync.enable),  # basic.enable, plus QRESYNC
    "NAMESPACE": Entry(AUTH, basic.namespace),
    "SELECT": Entry(AUTH, selection.select),
    "EXAMINE": Entry(AUTH, selection.select),
    "CREATE": Entry(AUTH, folders.create),
    "DELETE": Entry(AUTH, folders.delete),
    "RENAME": Entry(AUTH, folders.rename),
    "SUBSCRIBE": Entry(AUTH, folders.subscribe),
    "UNSUBSCRIBE": Entry(AUTH, folders.subscribe),
    "LIST": Entry(AUTH, folders.list_command),
    "LSUB": Entry(AUTH, folders.list_command),
    "STATUS": Entry(AUTH, folders.status),
    "APPEND": Entry(AUTH, messages.append),
    "GETQUOTA": Entry(AUTH, folders.getquota),
    "GETQUOTAROOT": Entry(AUTH, folders.getquotaroot),
    "IDLE": Entry(AUTH, selection.idle),
    "CHECK": Entry(SELECTED, basic.noop),
    "CLOSE": Entry(SELECTED, selection.close),
    "UNSELECT": Entry(SELECTED, selection.close),
    "EXPUNGE": Entry(SELECTED, selection.expunge),
    "UID EXPUNGE": Entry(SELECTED, selection.expunge),
    "SEARCH": Entry(SELECTED, searching.search),
    "UID SEARCH": Entry(SELECTED, searching.search),
    "FETCH": Entry(SELECTED, fetching.fetch),
    "UID FETCH": Entry(SELECTED, fetching.fetch),
    "STORE": Entry(SELECTED, messages.store),
    "UID STORE": Entry(SELECTED, messages.store),
    "COPY": Entry(SELECTED, messages.copy),
    "UID COPY": Entry(SELECTED, messages.copy),
    "MOVE": Entry(SELECTED, qresync.moving(messages.copy)),
    "UID MOVE": Entry(SELECTED, qresync.moving(messages.copy)),
}


def verb_of(command: c.AnyCommand) -> str:
    """The command's name as the table knows it (``UID FETCH``, ``EXAMINE`` ...)."""
    if isinstance(command, (c.NoArgs, c.MailboxCommand)):
        return command.name
    if isinstance(command, c.Select):
        return "EXAMINE" if command.readonly else "SELECT"
    if isinstance(command, c.ListCommand):
        return "LSUB" if command.lsub else "LIST"
    if isinstance(command, c.UidExpunge):
        return "UID EXPUNGE"
    if isinstance(command, (c.Search, c.Fetch, c.Store, c.Copy)):
        name = {c.Search: "SEARCH", c.Fetch: "FETCH", c.Store: "STORE"}.get(type(command))
        if isinstance(command, c.Copy):
            name = "MOVE" if command.move else "COPY"
        return f"UID {name}" if command.uid else str(name)
    return type(command).__name__.upper()


def lookup(command: c.AnyCommand) -> tuple[Entry | None, str]:
    verb = verb_of(command)
    return COMMANDS.get(verb), verb
