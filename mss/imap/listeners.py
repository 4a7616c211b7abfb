"""Start the IMAP listeners: ``imap`` (STARTTLS required before login, 143) and ``imaps``
(implicit TLS, 993). Each connection gets its own :class:`Session`; a failing session never takes
the listener down."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from config import ImapSettings
from config.settings import ProxySettings
from mss.audit import AuditEvent
from mss.imap.connection import Connection
from mss.imap.services import ImapServices
from mss.imap.session import Session
from mss.listening import Listener
from mss.proxy_gate import ProxyGate, handover_streams

log = logging.getLogger(__name__)


async def start_imap(services: ImapServices, proxy: ProxySettings | None = None) -> list[Listener]:
    settings = services.settings
    listeners = []
    if settings.imap.enabled:
        listeners.append(await _serve("imap", settings, services, proxy, implicit_tls=False))
    if settings.imaps.enabled:
        listeners.append(await _serve("imaps", settings, services, proxy, implicit_tls=True))
    return listeners


async def _serve(
    name: str,
    settings: ImapSettings,
    services: ImapServices,
    proxy: ProxySettings | None,
    *,
    implicit_tls: bool,
) -> Listener:
    listen = settings.imaps if implicit_tls else settings.imap

    async def on_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str | None = None
    ) -> None:
        conn = Connection(reader, writer, write_timeout=settings.write_timeout)
        if peer:  # the client behind the load balancer, from its PROXY header
            conn.peer = peer
        if len(services.sessions) >= settings.max_connections:
            writer.write(b"* BYE Too many connections, try again later\r\n")
            services.audit.record(
                AuditEvent.CONNECTION_CLOSED,
                peer=conn.peer,
                listener=name,
                reason="too many connections",
            )
            await conn.close()
            return
        session = Session(services, conn, listener=name, starttls=not implicit_tls)
        try:
            await session.run()
        except asyncio.CancelledError:
            pass  # shutdown: the session said BYE; end this connection's task quietly
        except Exception:
            log.exception("imap connection failed listener=%s", name)
            conn.abort()

    if listen.proxy_protocol:
        gate = _proxy_gate(name, services, proxy, on_connection, implicit_tls=implicit_tls)
        server = await asyncio.get_running_loop().create_server(
            gate.protocol, listen.host, listen.port, reuse_address=True
        )
        listener = Listener(name, server, gate)
        log.info("listening name=%s host=%s port=%d proxy", name, listener.host, listener.port)
        return listener
    server = await asyncio.start_server(
        on_connection,
        listen.host,
        listen.port,
        ssl=services.tls_context if implicit_tls else None,
        limit=settings.max_line_length,
        reuse_address=True,
    )
    listener = Listener(name, server)
    log.info("listening name=%s host=%s port=%d", name, listener.host, listener.port)
    return listener


def _proxy_gate(
    name: str,
    services: ImapServices,
    proxy: ProxySettings | None,
    on_connection: Callable[..., Awaitable[None]],
    *,
    implicit_tls: bool,
) -> ProxyGate:
    """The PROXY header is read before anything else, TLS included (993: header, then TLS)."""

    async def handover(sock: socket.socket, client: str | None) -> None:
        await handover_streams(
            sock,
            lambda reader, writer: on_connection(reader, writer, client),
            limit=services.settings.max_line_length,
            tls=services.tls_context if implicit_tls else None,
        )

    def refused(peer: str, reason: str) -> None:
        services.audit.record(AuditEvent.CONNECTION_CLOSED, peer=peer, listener=name, reason=reason)

    return ProxyGate(name, proxy or ProxySettings(), handover, refused)


async def close_sessions(services: ImapServices) -> None:
    """Cancel every open session (each says BYE) at shutdown; abort what is still open after
    5 s, so that no connection outlives the event loop."""
    tasks = [s.task for s in list(services.sessions) if s.task is not None]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    for session in list(services.sessions):
        session.conn.abort()
