"""The socket side of one IMAP connection: lines, literals, writes with backpressure, STARTTLS.

Writes go through :meth:`Connection.send`, which buffers and drains once the transport holds
more than ``HIGH_WATER`` bytes: a client that stops reading blocks only its own session, and a
drain that takes longer than the write timeout closes the connection.
"""

from __future__ import annotations

import asyncio
import ssl

from mss.wire.imap.response import Response, render

HIGH_WATER = 64 * 1024


class ConnectionLost(Exception):
    """The peer went away, timed out, or broke the framing (a line over the limit)."""


class LineTooLong(ConnectionLost):
    pass


class TimedOut(ConnectionLost):
    """The client said nothing for too long (RFC 3501 §5.4 autologout)."""


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        write_timeout: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.write_timeout = write_timeout
        self._out = bytearray()
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")

    @property
    def tls(self) -> bool:
        return self.writer.get_extra_info("ssl_object") is not None

    def tls_version(self) -> str:
        ssl_object = self.writer.get_extra_info("ssl_object")
        return str(ssl_object.version()) if ssl_object is not None else ""

    async def read_line(self, wait: float) -> bytes:
        """One line with its CRLF (a bare LF is accepted and normalised)."""
        try:
            # asyncio.timeout, not wait_for: no extra task per read (an idle connection holds
            # one read for minutes; 2,000 of them are counted in memory, issue 3 "Speed").
            async with asyncio.timeout(wait):
                line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise LineTooLong("line too long") from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("connection closed") from exc
        except TimeoutError as exc:
            raise TimedOut("timeout") from exc
        except (ConnectionError, ssl.SSLError) as exc:
            raise ConnectionLost(type(exc).__name__) from exc
        return line if line.endswith(b"\r\n") else line[:-1] + b"\r\n"

    async def read_exact(self, size: int, wait: float) -> bytes:
        try:
            async with asyncio.timeout(wait):
                return await self.reader.readexactly(size)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
            raise ConnectionLost(type(exc).__name__) from exc

    def interrupt(self, exc: Exception) -> None:
        """Make the pending (and every later) read raise ``exc``: another task of the session
        failed while this one waits for the client (IDLE updates)."""
        self.reader.set_exception(exc)

    def has_buffered_input(self) -> bool:
        """Bytes already read but not consumed (a STARTTLS command injection, RFC 3501 §11.1)."""
        buffer = getattr(self.reader, "_buffer", b"")
        return bool(buffer)

    async def send(self, *responses: Response) -> None:
        """Queue responses; they go out in large writes, at the latest with :meth:`drain`."""
        for response in responses:
            self._out += render(response)
        if len(self._out) > HIGH_WATER:
            await self.drain()

    async def send_bytes(self, data: bytes) -> None:
        """Queue pre-rendered response bytes (the fast path of large FETCH results)."""
        self._out += data
        if len(self._out) > HIGH_WATER:
            await self.drain()

    async def drain(self) -> None:
        """Write what is queued and wait until the transport has room again."""
        if self._out:
            if self.writer.is_closing():
                raise ConnectionLost("connection closed")
            self.writer.write(bytes(self._out))
            self._out.clear()
        try:
            await asyncio.wait_for(self.writer.drain(), self.write_timeout)
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            raise ConnectionLost("write failed or timed out") from exc

    def pause_reading(self) -> None:
        """Before answering STARTTLS: the client's ClientHello must reach TLS, not our buffer."""
        pause = getattr(self.writer.transport, "pause_reading", None)  # uvloop: not a ReadTransport
        if pause is not None:
            pause()

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.drain()
        try:
            await asyncio.wait_for(self.writer.start_tls(context), self.write_timeout)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError) as exc:
            raise ConnectionLost("TLS handshake failed") from exc

    async def close(self) -> None:
        """Close politely (TLS close_notify), or abort when the peer does not answer in 5 s or
        when we are cancelled: a connection is never left open behind us."""
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise

    def abort(self) -> None:
        self.writer.transport.abort()
