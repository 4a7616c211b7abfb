"""The PROXY protocol in front of a listener (SMTP or IMAP) behind a TCP load balancer.

A listener with ``proxy_protocol = true`` accepts through a :class:`ProxyGate`:

1. a connection from an address outside ``[proxy] trusted_proxies`` is closed at once;
2. a trusted one must send a valid PROXY header (v1 or v2, :mod:`mss.wire.proxy`) within
   ``header_timeout`` seconds, or it is closed; every refusal is logged and passed to the
   listener's ``refused`` callback (audit);
3. the header is read from the socket itself, byte-exactly: nothing after it is consumed, so a
   TLS ClientHello sent in the same segment (implicit TLS, 465/993) still reaches the TLS layer;
4. the socket is then handed to the listener's protocol as if freshly accepted (TLS first on
   implicit-TLS listeners), with the client address from the header as its peer: TLS still
   ends on mss (MSS-TLS-1, client certificates of MSS-TRUST-3), and the audit trail (SEC-IN-4),
   ``Received:`` fields and login throttles name the real client. Logs carry addresses only
   (SEC-IN-3).

The socket is taken from the event loop's transport by duplicating its descriptor and
dropping the transport before it reads anything; this works on asyncio and on uvloop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, cast

from config.settings import ProxySettings
from mss.wire.proxy import ProxyHeader, ProxyHeaderError, header_length, parse_header

log = logging.getLogger(__name__)

PEEK = 4096
# Hands the socket (past the header) to the listener; the client's "ip:port", or None when the
# header names no client (LOCAL health checks, UNKNOWN): the socket's own peer stands.
Handover = Callable[[socket.socket, str | None], Awaitable[None]]
Refused = Callable[[str, str], None]  # (peer, reason)


class ProxyGate:
    def __init__(
        self, listener: str, settings: ProxySettings, handover: Handover, refused: Refused
    ) -> None:
        self.listener = listener
        self._trusted = tuple(settings.trusted_proxies)
        self._timeout = settings.header_timeout
        self._handover = handover
        self._refused = refused
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    def protocol(self) -> asyncio.Protocol:
        """The protocol factory for ``loop.create_server``."""
        return _Adopt(self)

    def trusts(self, host: str) -> bool:
        try:
            address: IPv4Address | IPv6Address = ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack listener sees ::ffff:10.0.0.1
        return any(address in network for network in self._trusted)

    async def close(self) -> None:
        """At shutdown: drop connections still waiting for their header."""
        self._closed = True
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=5)

    def adopt(self, transport: asyncio.Transport) -> None:
        peername = transport.get_extra_info("peername")
        if self._closed or not isinstance(peername, tuple):  # shutting down, or already gone
            log.debug("connection dropped before the header listener=%s", self.listener)
            transport.abort()
            return
        peer = _peer_text(peername)
        if not self.trusts(str(peername[0])):
            transport.abort()
            self._refuse(peer, "untrusted proxy")
            return
        try:
            sock = _detach(transport)
        except OSError as error:  # out of file descriptors: the connection cannot be served
            log.warning("proxy cannot take connection listener=%s error=%s", self.listener, error)
            transport.abort()
            return
        task = asyncio.get_running_loop().create_task(self._admit(sock, peer))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _admit(self, sock: socket.socket, peer: str) -> None:
        """Read the header, then hand the socket over. Once handed over, the socket belongs to
        its transport (which closes it, or detaches it under uvloop): closing it again here is
        harmless, and needed when the handover failed before a transport took it."""
        try:
            header = await self._read(sock, peer)
            if header is None or self._closed:
                sock.close()
                return
            client = str(header.source) if header.source is not None else None
            log.debug(  # the audit trail has the client; this links it to the balancer
                "proxied listener=%s proxy=%s client=%s version=%d",
                self.listener,
                peer,
                client or "-",
                header.version,
            )
            await self._handover(sock, client)
        except OSError as error:  # TLS handshake failed, the client went away
            log.info(
                "proxied connection failed listener=%s proxy=%s error=%r",
                self.listener,
                peer,
                error,
            )
            sock.close()
        except Exception:
            log.exception("proxy handover failed listener=%s proxy=%s", self.listener, peer)
            sock.close()
        except asyncio.CancelledError:
            sock.close()
            raise

    async def _read(self, sock: socket.socket, peer: str) -> ProxyHeader | None:
        try:
            async with asyncio.timeout(self._timeout):
                return await read_header(sock)
        except TimeoutError:
            self._refuse(peer, "proxy header timeout")
        except ProxyHeaderError as error:
            self._refuse(peer, f"bad proxy header: {error}")
        except OSError as error:  # the balancer went away before the header
            log.info(
                "proxy connection lost listener=%s peer=%s error=%s", self.listener, peer, error
            )
        return None

    def _refuse(self, peer: str, reason: str) -> None:
        log.warning("proxy refused listener=%s peer=%s reason=%s", self.listener, peer, reason)
        self._refused(peer, reason)


class _Adopt(asyncio.Protocol):
    """Takes the accepted socket away from the transport before it reads a byte."""

    def __init__(self, gate: ProxyGate) -> None:
        self._gate = gate

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._gate.adopt(cast(asyncio.Transport, transport))


async def read_header(sock: socket.socket) -> ProxyHeader:
    """Read exactly one PROXY header from a non-blocking socket: bytes are peeked, and only
    those known to belong to the header are consumed."""
    loop = asyncio.get_running_loop()
    buffer = b""
    while True:
        await _readable(loop, sock)
        try:
            peeked = sock.recv(PEEK, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not peeked:
            raise ConnectionResetError("closed before the PROXY header")
        total = header_length(buffer + peeked)
        take = len(peeked) if total is None else min(len(peeked), total - len(buffer))
        buffer += sock.recv(take)
        if total is not None and len(buffer) >= total:
            return parse_header(buffer)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def _detach(transport: asyncio.Transport) -> socket.socket:
    """A socket of our own on the same connection; the transport is dropped unread (it is
    closed without a shutdown, so the connection lives on in the duplicate)."""
    fd = os.dup(transport.get_extra_info("socket").fileno())
    transport.abort()
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock


def _peer_text(peername: tuple[Any, ...]) -> str:
    return f"{peername[0]}:{peername[1]}"  # as every peer field of mss


async def handover_streams(
    sock: socket.socket,
    callback: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    *,
    limit: int,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve a handed-over socket with asyncio streams, as ``asyncio.start_server`` would."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    protocol = asyncio.StreamReaderProtocol(reader, callback)
    await loop.connect_accepted_socket(lambda: protocol, sock, ssl=tls)
