"""One outbound SMTP connection to a peer operator's MTA, over asyncio streams.

The session opens with EHLO, then STARTTLS, which is mandatory: a peer that does not offer it, or
whose certificate does not chain to our trust anchors, gets no mail (MSS-TRUST-4, fail-closed; no
fallback to plain text). Our client certificate goes in the handshake. After TLS the session says
EHLO again and keeps the extensions the peer advertises (RFC 3207 §4.2).

Every problem with the connection raises ``SessionError`` carrying the SMTP code, enhanced code
and a clear text that the relay hands back as the recipients' result; peer replies are kept as
they came (code, enhanced code, text).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from directory.dn import normalise_dn
from mss.relay.wire import Reply, ReplyError, dot_stuffed, parse_ehlo, parse_reply_line
from mss.tls import peer_certificate

LINE_LIMIT = 64 * 1024  # longest reply line read from a peer
REPLY_LINES = 200  # most lines in one multi-line reply
QUIT_TIMEOUT = 2.0


class SessionError(Exception):
    """The session cannot go on: no connection, no TLS, a dead or broken peer."""

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        super().__init__(f"{code} {enhanced} {text}")
        self.code = code
        self.enhanced = enhanced
        self.text = text


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect; ``server_name`` goes in TLS SNI (None for an address literal)."""

    host: str
    port: int
    server_name: str | None = None

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    command: float


@dataclass(frozen=True, slots=True)
class Envelope:
    """One transaction: the MAIL parameters and each recipient with its RCPT parameters."""

    sender: str
    mail_params: tuple[str, ...]
    recipients: tuple[tuple[str, tuple[str, ...]], ...]
    body: bytes


class SmtpSession:
    """An open, TLS-protected SMTP session; use ``SmtpSession.open``."""

    def __init__(
        self,
        endpoint: Endpoint,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeouts: Timeouts,
    ) -> None:
        self.endpoint = endpoint
        self._reader = reader
        self._writer = writer
        self._timeouts = timeouts
        self.extensions: dict[str, str] = {}
        self.peer_dn = ""  # normalised subject DN of the peer's certificate (MSS-TRUST-2)
        self.transactions = 0
        self.broken = False

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        *,
        hostname: str,
        context: ssl.SSLContext,
        timeouts: Timeouts,
    ) -> SmtpSession:
        """Connect, greet, STARTTLS with ``context`` and EHLO again; ``SessionError`` if not."""
        reader, writer = await _connect(endpoint, timeouts.connect)
        session = cls(endpoint, reader, writer, timeouts)
        try:
            await session._start(hostname, context)
        except BaseException:
            await session.abort()
            raise
        return session

    async def _start(self, hostname: str, context: ssl.SSLContext) -> None:
        greeting = await self._read_reply()
        if greeting.code != 220:
            raise self._refused("greeting", greeting)
        await self._ehlo(hostname)
        if "STARTTLS" not in self.extensions:
            # MSS-TRUST-4: never fall back to plain text.
            raise SessionError(421, "4.7.4", f"{self.endpoint.label} does not offer STARTTLS")
        reply = await self.command("STARTTLS")
        if reply.code != 220:
            raise self._refused("STARTTLS", reply)
        await self._handshake(context)
        await self._ehlo(hostname)

    async def _ehlo(self, hostname: str) -> None:
        reply = await self.command(f"EHLO {hostname}")
        if reply.code != 250:
            raise self._refused("EHLO", reply)
        self.extensions = parse_ehlo(reply)

    async def _handshake(self, context: ssl.SSLContext) -> None:
        try:
            await self._writer.start_tls(
                context,
                server_hostname=self.endpoint.server_name,
                ssl_handshake_timeout=self._timeouts.command,
            )
        except ssl.SSLCertVerificationError as error:
            reason = error.verify_message or error.reason or "verification failed"
            raise self._tls_failure(f"certificate not trusted: {reason}") from None
        except (TimeoutError, ssl.SSLError, OSError) as error:
            raise self._tls_failure(f"handshake failed: {_why(error)}") from None
        certificate = peer_certificate(self._writer.get_extra_info("ssl_object"))
        if certificate is None:
            raise self._tls_failure("the server presented no certificate")
        try:
            self.peer_dn = normalise_dn(certificate.subject_dn)
        except ValueError:
            raise self._tls_failure("the server certificate's subject is unreadable") from None

    def _tls_failure(self, what: str) -> SessionError:
        self.broken = True
        return SessionError(421, "4.7.5", f"TLS with {self.endpoint.label}: {what}")

    def _refused(self, stage: str, reply: Reply) -> SessionError:
        """A refusal before any transaction: temporary even when the peer said 5xx (as Postfix's
        ``smtp_skip_5xx_greeting``): another host, or a later attempt, may do better."""
        code, enhanced = (
            (reply.code, reply.enhanced) if reply.code < 500 else (421, "4" + reply.enhanced[1:])
        )
        text = f"{stage} refused by {self.endpoint.label}: {reply.code} {reply.text}"
        return SessionError(code, enhanced, text)

    @property
    def tls_version(self) -> str | None:
        ssl_object = self._writer.get_extra_info("ssl_object")
        return None if ssl_object is None else str(ssl_object.version())

    def has(self, extension: str) -> bool:
        return extension in self.extensions

    def size_limit(self) -> int:
        """The peer's SIZE (RFC 1870), 0 when it states none."""
        value = self.extensions.get("SIZE", "")
        return int(value) if value.isdigit() else 0

    async def command(self, line: str) -> Reply:
        await self._send(line.encode("utf-8") + b"\r\n")
        return await self._read_reply()

    async def reset(self) -> bool:
        """RSET between two messages on a reused connection; False when it is no longer usable."""
        if self.broken or self._writer.is_closing():
            return False
        try:
            reply = await self.command("RSET")
        except SessionError:
            return False
        return reply.code == 250

    async def transaction(self, envelope: Envelope) -> list[Reply]:
        """MAIL, RCPT…, DATA; one reply per recipient: its RCPT refusal or the final reply."""
        self.transactions += 1
        if self.has("PIPELINING"):
            return await self._pipelined(envelope)  # RFC 2920
        return await self._lockstep(envelope)

    async def _pipelined(self, envelope: Envelope) -> list[Reply]:
        await self._send(b"".join(_line(command) for command in _commands(envelope)))
        mail = await self._read_reply()
        if self.broken:  # 421: no more replies will come
            return [mail] * len(envelope.recipients)
        rcpts: list[Reply] = []
        for _ in envelope.recipients:
            rcpts.append(await self._read_reply())
            if self.broken:  # 421: the recipients not answered get that reply
                return rcpts + [rcpts[-1]] * (len(envelope.recipients) - len(rcpts))
        data = await self._read_reply()
        if mail.code != 250:
            if data.code == 354:  # RFC 2920 §3.1: a broken peer; end the empty message
                await self._send(b".\r\n")
                await self._read_reply()
            return [mail] * len(rcpts)
        return await self._after_data(envelope, rcpts, data)

    async def _lockstep(self, envelope: Envelope) -> list[Reply]:
        commands = _commands(envelope)
        mail = await self.command(commands[0])
        if mail.code != 250:
            return [mail] * len(envelope.recipients)
        rcpts = [await self.command(command) for command in commands[1:-1]]
        if not any(reply.code in (250, 251) for reply in rcpts):
            return rcpts
        return await self._after_data(envelope, rcpts, await self.command("DATA"))

    async def _after_data(self, envelope: Envelope, rcpts: list[Reply], data: Reply) -> list[Reply]:
        accepted = [reply.code in (250, 251) for reply in rcpts]
        if data.code != 354:
            return [data if ok else reply for ok, reply in zip(accepted, rcpts, strict=True)]
        await self._send(dot_stuffed(envelope.body) if any(accepted) else b".\r\n")
        final = await self._read_reply()
        return [final if ok else reply for ok, reply in zip(accepted, rcpts, strict=True)]

    async def quit(self) -> None:
        """QUIT politely, then close; never raises."""
        if not self.broken and not self._writer.is_closing():
            with contextlib.suppress(SessionError, asyncio.TimeoutError):
                await asyncio.wait_for(self.command("QUIT"), QUIT_TIMEOUT)
        await self.abort()

    async def close(self) -> None:
        await self.quit()

    async def abort(self) -> None:
        self.broken = True
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), QUIT_TIMEOUT)

    async def _send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self._timeouts.command)
        except (TimeoutError, OSError) as error:
            self.broken = True
            raise SessionError(421, "4.4.2", f"{self.endpoint.label}: {_why(error)}") from None

    async def _read_reply(self) -> Reply:
        try:
            return await asyncio.wait_for(self._read_lines(), self._timeouts.command)
        except TimeoutError:
            self.broken = True
            raise SessionError(
                421, "4.4.2", f"{self.endpoint.label}: no reply within {self._timeouts.command}s"
            ) from None

    async def _read_lines(self) -> Reply:
        lines: list[str] = []
        while len(lines) < REPLY_LINES:
            raw = await self._readline()
            try:
                code, last, text = parse_reply_line(raw)
            except ReplyError as error:
                self.broken = True
                raise SessionError(421, "4.5.0", f"{self.endpoint.label}: {error}") from None
            lines.append(text)
            if last:
                if code == 421:  # RFC 5321 §3.8: the peer is closing the connection
                    self.broken = True
                return Reply(code, tuple(lines))
        self.broken = True
        raise SessionError(421, "4.5.0", f"{self.endpoint.label}: reply too long")

    async def _readline(self) -> bytes:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            self.broken = True
            raise SessionError(421, "4.4.2", f"{self.endpoint.label}: connection lost") from None
        except asyncio.LimitOverrunError:
            self.broken = True
            raise SessionError(
                421, "4.5.0", f"{self.endpoint.label}: reply line too long"
            ) from None
        except (OSError, ssl.SSLError) as error:
            self.broken = True
            raise SessionError(421, "4.4.2", f"{self.endpoint.label}: {_why(error)}") from None
        return raw


async def _connect(
    endpoint: Endpoint, seconds: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port, limit=LINE_LIMIT), seconds
        )
    except TimeoutError:
        raise SessionError(
            421, "4.4.1", f"connection to {endpoint.label} timed out after {seconds}s"
        ) from None
    except OSError as error:
        raise SessionError(
            421, "4.4.1", f"cannot connect to {endpoint.label}: {_why(error)}"
        ) from None


def _commands(envelope: Envelope) -> list[str]:
    mail = " ".join((f"MAIL FROM:<{envelope.sender}>", *envelope.mail_params))
    rcpts = [" ".join((f"RCPT TO:<{address}>", *params)) for address, params in envelope.recipients]
    return [mail, *rcpts, "DATA"]


def _line(command: str) -> bytes:
    return command.encode("utf-8") + b"\r\n"


def _why(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
