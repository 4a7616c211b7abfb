"""STARTTLS, LOGIN and AUTHENTICATE PLAIN (RFC 3501 §6.2, SASL-IR RFC 4959).

MSS-TLS-2: no login before TLS (``LOGINDISABLED``, ``NO [PRIVACYREQUIRED]``).
MSS-BAL-2: a delegate opens an organisational BAL by authenticating as themself with the BAL as
the PLAIN authorisation identity (authzid). MSS-PAT: patients have no IMAP access (the
authenticator refuses them); suspended or closed BALs are refused (MSS-BAL-4).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mss.audit import AuditEvent, clip
from mss.imap.errors import Bad, ImapError
from mss.imap.session import Done, State
from mss.wire.errors import WireSyntaxError
from mss.wire.imap.command import Authenticate, Login, NoArgs
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.framing import parse_sasl_response
from mss.wire.imap.response import Continuation, Tagged
from mss.wire.sasl import parse_plain

if TYPE_CHECKING:
    from mss.imap.session import Session


async def starttls(session: Session, command: NoArgs) -> Done:
    if session.conn.tls or not session.starttls_allowed:
        raise Bad("TLS is already active", "CLIENTBUG")
    if session.conn.has_buffered_input():  # no command may ride along the STARTTLS line
        raise Bad("Data after STARTTLS", "CLIENTBUG")
    session.conn.pause_reading()  # start_tls resumes it on the TLS side
    await session.reply(Tagged(command.tag, "OK", "Begin TLS negotiation now"))
    await session.conn.start_tls(session.services.tls_context)
    session.audit(AuditEvent.TLS_ESTABLISHED, protocol=session.conn.tls_version())
    return Done(answered=True)


async def login(session: Session, command: Login) -> Done:
    if not session.conn.tls:
        raise ImapError("Use STARTTLS first", "PRIVACYREQUIRED")  # MSS-TLS-2
    return await _authenticate(
        session, command.tag, "LOGIN", command.username, command.password, ""
    )


async def authenticate(session: Session, command: Authenticate) -> Done:
    if not session.conn.tls:
        raise ImapError("Use STARTTLS first", "PRIVACYREQUIRED")  # MSS-TLS-2
    if command.mechanism != "PLAIN":
        raise ImapError("Unsupported mechanism", "CANNOT")
    response = command.initial_response
    if response is None:
        await session.reply(Continuation(""))
        await session.conn.drain()
        try:
            response = parse_sasl_response(await session.read_line())
        except ImapSyntaxError as exc:
            raise Bad("Bad SASL response", "CLIENTBUG") from exc
        if response is None:
            raise Bad("Authentication cancelled")
    try:
        authzid, authcid, password = parse_plain(response)
    except WireSyntaxError as exc:
        raise Bad("Bad PLAIN message", "CLIENTBUG") from exc
    return await _authenticate(session, command.tag, "PLAIN", authcid, password, authzid)


async def _authenticate(
    session: Session, tag: str, mechanism: str, username: str, password: str, authzid: str
) -> Done:
    throttle = session.services.throttle
    peer_ip = session.conn.peer.rsplit(":", 1)[0]
    wait = throttle.delay(peer_ip, username)
    if wait:
        await asyncio.sleep(wait)  # password guessing: the more failures, the longer the wait
    principal = await session.services.authenticator.password(username, password, authzid)
    if principal is None:
        throttle.failed(peer_ip, username)
        session.audit(
            AuditEvent.AUTH_FAILED,
            mechanism=mechanism,
            username=clip(username),
            authzid=clip(authzid) or None,
        )
        # The tagged NO goes out first: when this failure is one too many, BYE follows it.
        failed = ImapError("Authentication failed", "AUTHENTICATIONFAILED")
        await session.reply(failed.response(tag))
        await session.count_bad()
        return Done(answered=True)
    throttle.succeeded(peer_ip, username)
    session.principal = principal
    session.state = State.AUTHENTICATED
    session.audit(AuditEvent.AUTH_SUCCEEDED, mechanism=mechanism, authzid=principal.acting_for)
    session.start_changes()
    return Done("Logged in", session.capability_code())
