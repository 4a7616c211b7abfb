"""Commands valid in any state (RFC 3501 §6.1) and the small extensions: ID, ENABLE, NAMESPACE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mss.imap.capabilities import ENABLEABLE
from mss.imap.session import Done, State
from mss.wire.imap.command import Enable, Id, NoArgs
from mss.wire.imap.response import Atom, Data, Untagged

if TYPE_CHECKING:
    from mss.imap.session import Session

SERVER_ID = ("name", "mss", "vendor", "mss", "support-url", "https://mssante.fr")


async def capability(session: Session, command: NoArgs) -> Done:
    await session.reply(Data((Atom("CAPABILITY"), *(Atom(c) for c in session.capabilities()))))
    return Done()


async def noop(session: Session, command: NoArgs) -> Done:
    """NOOP and CHECK: nothing to do; the untagged updates are sent by the session."""
    return Done()


async def logout(session: Session, command: NoArgs) -> Done:
    await session.reply(Untagged("BYE", "Logging out"))
    session.state = State.LOGOUT
    session.view = None
    return Done()


async def id_command(session: Session, command: Id) -> Done:
    """RFC 2971: the client's fields are not logged (they may identify the person)."""
    await session.reply(Data((Atom("ID"), SERVER_ID)))
    return Done()


async def enable(session: Session, command: Enable) -> Done:
    """RFC 5161: only CONDSTORE can be enabled; unknown names are ignored."""
    enabled = [name for name in command.capabilities if name in ENABLEABLE]
    if "CONDSTORE" in enabled:
        session.condstore = True
    await session.reply(Data((Atom("ENABLED"), *(Atom(name) for name in enabled))))
    return Done()


async def namespace(session: Session, command: NoArgs) -> Done:
    """RFC 2342: one personal namespace, ``/`` as the hierarchy delimiter."""
    await session.reply(Data((Atom("NAMESPACE"), (("", "/"),), None, None)))
    return Done()
