"""Start the IMAP listeners: ``imap`` (STARTTLS required before login, 143) and ``imaps``
(implicit TLS, 993). Each connection gets its own :class:`Session`; a failing session never takes
the listener down."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from config import ImapSettings
from mss.audit import AuditEvent
from mss.imap.connection import Connection
from mss.imap.services import ImapServices
from mss.imap.session import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImapListener:
    name: str
    server: asyncio.Server

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return str(self.server.sockets[0].getsockname()[0])


async def start_imap(services: ImapServices) -> list[ImapListener]:
    settings = services.settings
    listeners = []
    if settings.imap.enabled:
        listeners.append(await _serve("imap", settings, services, implicit_tls=False))
    if settings.imaps.enabled:
        listeners.append(await _serve("imaps", settings, services, implicit_tls=True))
    return listeners


async def _serve(
    name: str, settings: ImapSettings, services: ImapServices, *, implicit_tls: bool
) -> ImapListener:
    listen = settings.imaps if implicit_tls else settings.imap

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, write_timeout=settings.write_timeout)
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

    server = await asyncio.start_server(
        on_connection,
        listen.host,
        listen.port,
        ssl=services.tls_context if implicit_tls else None,
        limit=settings.max_line_length,
        reuse_address=True,
    )
    listener = ImapListener(name, server)
    log.info("listening name=%s host=%s port=%d", name, listener.host, listener.port)
    return listener


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
