"""A small SMTP sink standing in for a peer operator's MTA in relay tests.

It runs on the test's event loop on 127.0.0.1:0, offers the extensions it is told to, requires
STARTTLS when it has a TLS context (and a client certificate when that context requires one),
and records connections, handshakes, commands and transactions, with the client's certificate DN.
Replies to RCPT and to the end of DATA can be chosen per recipient, to map peer errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import TlsSettings
from mss.tls import peer_certificate, server_context

DEFAULT_EXTENSIONS = ("PIPELINING", "SIZE 10485760", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES")


@dataclass
class Transaction:
    mail: str
    rcpts: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    body: bytes = b""
    client_dn: str = ""


def sink_tls(cert: Path, key: Path, anchors: Path, *, require_client_cert: bool) -> ssl.SSLContext:
    context = server_context(
        TlsSettings(cert_file=cert, key_file=key, trust_anchors=anchors),
        request_client_cert=True,
    )
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class SmtpSink:
    def __init__(
        self,
        tls: ssl.SSLContext | None,
        *,
        extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
        rcpt_reply: Callable[[str], str] | None = None,
        data_reply: Callable[[list[str]], str] | None = None,
    ) -> None:
        self._tls = tls
        self._extensions = extensions
        self._rcpt_reply = rcpt_reply or (lambda _address: "250 2.1.5 ok")
        self._data_reply = data_reply or (lambda _rcpts: "250 2.0.0 queued")
        self.connections = 0
        self.handshakes = 0
        self.failed_handshakes = 0
        self.commands: list[str] = []
        self.transactions: list[Transaction] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_connections(self) -> None:
        """Cut every open connection, as a peer restarting or timing out idle clients does."""
        for writer in self._writers:
            writer.transport.abort()

    @property
    def delivered(self) -> list[Transaction]:
        return [t for t in self.transactions if t.accepted and t.body]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await _Conversation(self, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _Conversation:
    def __init__(
        self, sink: SmtpSink, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.sink = sink
        self.reader = reader
        self.writer = writer
        self.secure = False
        self.client_dn = ""
        self.transaction: Transaction | None = None

    async def reply(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 sink.test ESMTP")
        while True:
            line = await self.reader.readuntil(b"\n")
            command = line.decode("utf-8").rstrip("\r\n")
            self.sink.commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            if verb == "QUIT":
                await self.reply("221 2.0.0 bye")
                return
            await self.dispatch(verb, command)

    async def dispatch(self, verb: str, command: str) -> None:
        if verb == "EHLO":
            await self.ehlo()
        elif verb == "STARTTLS" and self.sink._tls is not None and not self.secure:
            await self.starttls()
        elif verb in ("RSET", "NOOP"):
            self.transaction = None
            await self.reply("250 2.0.0 ok")
        elif self.sink._tls is not None and not self.secure:
            await self.reply("530 5.7.0 must issue STARTTLS first")
        elif verb == "MAIL":
            self.transaction = Transaction(command, client_dn=self.client_dn)
            self.sink.transactions.append(self.transaction)
            await self.reply("250 2.1.0 ok")
        elif verb == "RCPT" and self.transaction is not None:
            await self.rcpt(command)
        elif verb == "DATA" and self.transaction is not None:
            await self.data(self.transaction)
        else:
            await self.reply("503 5.5.1 bad sequence")

    async def ehlo(self) -> None:
        extensions = list(self.sink._extensions)
        if self.sink._tls is not None and not self.secure:
            extensions.append("STARTTLS")
        lines = ["sink.test", *extensions]
        for line in lines[:-1]:
            await self.reply(f"250-{line}")
        await self.reply(f"250 {lines[-1]}")

    async def starttls(self) -> None:
        assert self.sink._tls is not None
        await self.reply("220 2.0.0 go ahead")
        try:
            await self.writer.start_tls(self.sink._tls)
        except (ssl.SSLError, OSError):
            self.sink.failed_handshakes += 1
            raise ConnectionError("handshake failed") from None
        self.sink.handshakes += 1
        self.secure = True
        cert = peer_certificate(self.writer.get_extra_info("ssl_object"))
        self.client_dn = cert.subject_dn if cert else ""

    async def rcpt(self, command: str) -> None:
        assert self.transaction is not None
        self.transaction.rcpts.append(command)
        address = command.split("<", 1)[1].split(">", 1)[0]
        reply = self.sink._rcpt_reply(address)
        if reply.startswith("2"):
            self.transaction.accepted.append(address)
        await self.reply(reply)
        if reply.startswith("421"):
            raise ConnectionError("closing after 421")

    async def data(self, transaction: Transaction) -> None:
        if not transaction.accepted:
            await self.reply("554 5.5.1 no valid recipients")
            return
        await self.reply("354 end with .")
        lines: list[bytes] = []
        while (line := await self.reader.readuntil(b"\r\n")) != b".\r\n":
            lines.append(line[1:] if line.startswith(b".") else line)
        transaction.body = b"".join(lines)
        self.transaction = None
        await self.reply(self.sink._data_reply(transaction.accepted))
