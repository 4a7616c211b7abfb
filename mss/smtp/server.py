"""The adapter over aiosmtpd: MAIL/RCPT with our parameter parsing and policy, DATA through the
delivery service, AUTH through our authenticator, enhanced codes on every reply.

aiosmtpd keeps the line reading, DATA dot-unstuffing, STARTTLS and the command loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session, TLSSetupException, syntax

from directory.dn import normalise_dn
from mss.audit import AuditEvent, AuditLog, clip
from mss.auth import Authenticator
from mss.delivery import DeliveryService, Recipient
from mss.delivery import Envelope as MssEnvelope
from mss.dkim import InboundDkim
from mss.policy import Channel
from mss.smtp import replies
from mss.smtp.session import ConnectionState, Transaction
from mss.tls import peer_certificate
from mss.wire.errors import WireSyntaxError
from mss.wire.sasl import parse_plain
from mss.wire.smtp_data import DataProblem, DataReader, DataResult
from mss.wire.smtp_params import parse_mail_params, parse_rcpt_params, split_path

log = logging.getLogger(__name__)

EXTRA_EXTENSIONS = ("ENHANCEDSTATUSCODES", "PIPELINING", "DSN")
DATA_CHUNK = 256 * 1024
_TLS_ACTIVE: Any = True


class SmtpServices:
    """What a session needs from the rest of the operator."""

    def __init__(
        self,
        *,
        delivery: DeliveryService,
        authenticator: Authenticator,
        audit: AuditLog,
        max_bad_commands: int,
        max_connections: int = 1000,
        dkim: InboundDkim | None = None,
    ) -> None:
        self.delivery = delivery
        self.dkim = dkim  # None: no stripping nor verification (tests of other features)
        self.authenticator = authenticator
        self.audit = audit
        self.max_bad_commands = max_bad_commands
        self.max_connections = max_connections
        self.sessions: set[MssSmtp] = set()

    async def close_sessions(self) -> None:
        """Close every open connection (at shutdown, after the listeners stopped accepting)."""
        for session in list(self.sessions):
            session.abort()
        for _ in range(10):  # let the cancelled session tasks unwind
            if not self.sessions:
                break
            await asyncio.sleep(0.01)


class MssSmtp(SMTP):
    """One connection. ``channel`` says which listener it came through."""

    def __init__(
        self,
        services: SmtpServices,
        channel: Channel,
        *,
        max_line_length: int,
        proxied_peer: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.line_length_limit = max_line_length + 1  # + the transparent dot (RFC 5321)
        self.services = services
        self.state = ConnectionState(channel=channel)
        # "ip:port" of the client behind a load balancer, from its PROXY header (mss.proxy_gate)
        self._proxied_peer = proxied_peer
        self._greeted = False
        self._raw_replies = False
        super().__init__(_Handler(self), **kwargs)

    # --- replies ---------------------------------------------------------------------------

    async def push(self, status: str | bytes) -> None:
        line = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if not self._greeted:
            self._greeted = True
            if len(self.services.sessions) >= self.services.max_connections:
                await super().push(replies.TOO_MANY_CONNECTIONS)
                if self.transport is not None:
                    self.transport.close()
                return
            self._opened()
        elif not self._raw_replies:
            line = replies.with_enhanced_code(line)
        await super().push(line)
        if replies.is_client_error(line):
            await self._count_error()

    async def _count_error(self) -> None:
        self.state.errors += 1
        if self.state.errors >= self.services.max_bad_commands and self.transport is not None:
            await super().push(replies.TOO_MANY_ERRORS)
            self.transport.close()

    def _opened(self) -> None:
        self.services.sessions.add(self)
        peer = self.session.peer if self.session else None
        self.state.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        if self._proxied_peer:  # audit, Received: and logs name the real client
            self.state.peer = self._proxied_peer
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is not None:  # implicit TLS (port 465)
            self._tls_established(ssl_object)
        self.services.audit.record(
            AuditEvent.CONNECTION_OPENED,
            session_id=self.state.session_id,
            peer=self.state.peer,
            listener=self.state.channel.value,
        )

    def _tls_established(self, ssl_object: ssl.SSLObject) -> None:
        cipher = ssl_object.cipher()
        self.state.tls = f"{ssl_object.version()} {cipher[0] if cipher else ''}".strip()
        cert = peer_certificate(ssl_object)
        if cert is not None:
            self.state.peer_dn_raw = clip(cert.subject_dn)
            self.state.peer_dn = _normalised(cert.subject_dn)
        self.services.audit.record(
            AuditEvent.TLS_ESTABLISHED,
            session_id=self.state.session_id,
            peer=self.state.peer,
            actor=self.state.peer_dn_raw,
            protocol=ssl_object.version() or "",
            cipher=cipher[0] if cipher else "",
        )

    def abort(self) -> None:
        for transport in (self.transport, self._original_transport):
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            elif transport is not None:
                transport.close()

    def eof_received(self) -> bool | None:
        """aiosmtpd cancels the session at EOF but keeps the transport half open, and nothing
        closes it when the EOF comes before its command loop started (a client, or a load
        balancer's health check, that connects and leaves at once): close it here."""
        super().eof_received()
        return False

    def connection_lost(self, error: Exception | None) -> None:
        self.services.sessions.discard(self)
        if self._greeted:
            self.services.audit.record(
                AuditEvent.CONNECTION_CLOSED,
                session_id=self.state.session_id,
                peer=self.state.peer,
            )
        super().connection_lost(error)

    def _set_post_data_state(self) -> None:
        super()._set_post_data_state()  # type: ignore[no-untyped-call]
        self.state.transaction = None

    # --- commands --------------------------------------------------------------------------

    async def smtp_EHLO(self, hostname: str) -> None:
        self._raw_replies = True  # RFC 2034: no enhanced codes in the EHLO response
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._raw_replies = False

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str | None) -> None:
        """RFC 3207 through the event loop's own ``start_tls`` (C code under uvloop), instead of
        aiosmtpd's hand-wired ``SSLProtocol``."""
        if arg:
            await self.push(replies.syntax_error("STARTTLS takes no argument"))
            return
        if self.tls_context is None or self._tls_protocol:
            await self.push(replies.TLS_UNAVAILABLE)
            return
        await self.push(replies.READY_FOR_TLS)
        self._original_transport = self.transport  # closed with the session (aiosmtpd does so)
        try:
            await self._writer.start_tls(self.tls_context)
        except (ssl.SSLError, OSError, EOFError) as error:
            self._tls_failed(error)
            raise TLSSetupException() from error
        self.transport = self._writer.transport
        self._reader._transport = self.transport  # type: ignore[attr-defined]
        ssl_object = self.transport.get_extra_info("ssl_object")
        self._tls_protocol = _TLS_ACTIVE  # aiosmtpd only asks "is TLS on?"
        # RFC 3207 §4.2: forget everything said before TLS (a new session: EHLO again).
        peer = self.session.peer if self.session else None
        self.session = self._create_session()
        self.session.peer = peer
        self.session.ssl = {"ssl_object": ssl_object}
        self._set_rset_state()  # type: ignore[no-untyped-call]
        self.state.helo = ""
        self._tls_established(ssl_object)

    def _tls_failed(self, error: BaseException) -> None:
        self.services.audit.record(
            AuditEvent.TLS_FAILED,
            session_id=self.state.session_id,
            peer=self.state.peer,
            error=clip(type(error).__name__),
        )

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        if self.state.transaction is not None:
            await self.push(replies.NESTED_MAIL)
            return
        try:
            sender, rest = split_path(arg or "", "FROM:")
            params = parse_mail_params(rest)
        except WireSyntaxError as error:
            await self.push(_param_error(error))
            return
        await self.push(await self._accept_sender(sender, params))

    async def _accept_sender(self, sender: str, params: Any) -> str:
        if not sender.isascii() and not params.smtputf8:
            return replies.NEEDS_SMTPUTF8
        if params.size is not None and self.data_size_limit and params.size > self.data_size_limit:
            return replies.TOO_BIG
        decision = await self.services.delivery.check_sender(self.state.origin(), sender)
        if not decision.accepted:
            return replies.for_decision(decision)
        self.state.transaction = Transaction(sender, params)
        return replies.OK_SENDER

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        transaction = self.state.transaction
        if transaction is None:
            await self.push(replies.NEED_MAIL)
            return
        try:
            address, rest = split_path(arg or "", "TO:")
            params = parse_rcpt_params(rest)
            if not address:
                raise WireSyntaxError("empty recipient")
        except WireSyntaxError as error:
            await self.push(_param_error(error))
            return
        if transaction.has(address):
            await self.push(replies.OK_RECIPIENT)  # listed once, delivered once
            return
        decision = await self.services.delivery.check_recipient(
            self.state.origin(),
            transaction.sender,
            address,
            accepted_so_far=len(transaction.recipients),
            declared_size=transaction.params.size,
        )
        if not decision.accepted:
            await self.push(replies.for_decision(decision))
            await self._count_error()  # refused recipients count too: no directory harvesting
            return
        transaction.recipients.append(Recipient(address, params.notify, params.orcpt))
        await self.push(replies.OK_RECIPIENT)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        """RFC 5321 §4.1.1.4, read in chunks by ``DataReader`` instead of line by line."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        transaction = self.state.transaction
        if transaction is None or not transaction.recipients:
            await self.push(replies.NEED_RECIPIENTS)
            return
        if arg:
            await self.push(replies.syntax_error("DATA takes no argument"))
            return
        await self.push(replies.START_DATA)
        result = await self._read_data()
        if result is None:
            return  # the client went away: nothing is stored
        if result.problem is DataProblem.TOO_BIG:
            status = replies.TOO_BIG
        elif result.problem is DataProblem.LINE_TOO_LONG:
            status = replies.LINE_TOO_LONG
        else:
            status = await self._deliver(transaction, result.content)
        self._set_post_data_state()
        await self.push(status)

    async def _read_data(self) -> DataResult | None:
        reader = DataReader(max_size=self.data_size_limit or 0, max_line=self.line_length_limit)
        while not reader.done:
            chunk = await self._reader.read(DATA_CHUNK)
            if not chunk:
                return None
            reader.feed(chunk)
        if reader.rest:  # pipelined commands after the final dot go back to the command loop
            self._reader._buffer[:0] = reader.rest  # type: ignore[attr-defined]
        return reader.result

    async def _deliver(self, transaction: Transaction, data: bytes) -> str:
        envelope = MssEnvelope(
            sender=transaction.sender,
            recipients=tuple(transaction.recipients),
            ret=transaction.params.ret,
            envid=transaction.params.envid,
        )
        data, results = await self._authentication_results(data)
        report = await self.services.delivery.deliver(
            self.state.origin(), envelope, data, extra_trace=results
        )
        if report.accepted:  # stored here or queued for another operator (issue 4)
            return replies.queued(report.queue_id)
        return replies.for_decision(report.outcomes[0].decision)

    async def _authentication_results(self, data: bytes) -> tuple[bytes, bytes]:
        """RFC 8601 §5: forged ``Authentication-Results`` claiming our authserv-id are removed
        on every channel; DKIM is verified on MX mail only (submission is our own users').
        MSS-MSG-1: that removal, our ``Authentication-Results`` (MX) and the trace fields are
        the only changes a message undergoes here."""
        if self.services.dkim is None:
            return data, b""
        verify = self.state.channel is Channel.MX
        prepared = await self.services.dkim.prepare(data, verify_dkim=verify)
        return prepared.message, prepared.results_field

    # --- AUTH (MSS-TLS-2: aiosmtpd refuses AUTH before TLS and does not advertise it) -------

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            challenged = await self.challenge_auth("")
            if not isinstance(challenged, bytes):
                return AuthResult(success=False, handled=True)
            blob: bytes | None = challenged
        else:
            blob = _b64(args[1])
        try:
            authzid, login, password = parse_plain(blob or b"")
        except WireSyntaxError:
            await self.push(replies.AUTH_MALFORMED)
            return AuthResult(success=False, handled=True)
        return await self._check_password("PLAIN", login, password, authzid)

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        login = _b64(args[1]) if len(args) > 1 else await self.challenge_auth("Username:")
        if not isinstance(login, bytes):
            await self.push(replies.AUTH_MALFORMED)
            return AuthResult(success=False, handled=True)
        password = await self.challenge_auth("Password:")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        try:
            return await self._check_password("LOGIN", login.decode(), password.decode())
        except UnicodeDecodeError:
            await self.push(replies.AUTH_MALFORMED)
            return AuthResult(success=False, handled=True)

    async def _check_password(
        self, mechanism: str, login: str, password: str, authzid: str = ""
    ) -> AuthResult:
        principal = await self.services.authenticator.password(login, password, authzid)
        event = AuditEvent.AUTH_SUCCEEDED if principal else AuditEvent.AUTH_FAILED
        self.services.audit.record(
            event,
            session_id=self.state.session_id,
            peer=self.state.peer,
            actor=clip(login),
            mechanism=mechanism,
        )
        if principal is None:
            return AuthResult(success=False, handled=False, message=replies.AUTH_FAILED)
        self.state = self.state.with_principal(principal)
        return AuthResult(success=True, auth_data=principal, message=replies.AUTH_OK)


class _Handler:
    """aiosmtpd hooks; the state lives on the MssSmtp connection."""

    def __init__(self, server: MssSmtp) -> None:
        self._server = server

    async def handle_EHLO(
        self,
        server: MssSmtp,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        server.state.helo = hostname[:255]
        lines = [line[4:] for line in responses if line[4:] not in ("HELP", "AUTH ")]
        lines += list(EXTRA_EXTENSIONS)
        head, *extensions = lines
        body = [f"250-{ext}" for ext in [head, *extensions[:-1]]]
        return [*body, f"250 {extensions[-1]}"]

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error session=%s", self._server.state.session_id, exc_info=error)
        return replies.SERVER_ERROR


def _param_error(error: WireSyntaxError) -> str:
    text = str(error)
    if "unknown" in text.lower() or "not supported" in text.lower():
        return replies.unknown_parameter(text)
    return replies.syntax_error(text)


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None


def _normalised(dn: str) -> str | None:
    try:
        return normalise_dn(dn)
    except ValueError:
        return None
