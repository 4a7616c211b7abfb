"""An IMAP server in-process on the memory store and directory, and a raw line-level client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import DirectorySettings, ImapSettings, TlsSettings
from directory.memory import MemoryDirectory
from directory.models import Domain, DomainKind
from mailbox_store.memory import MemoryMailboxStore
from mss import demo
from mss.audit import MemoryAuditLog
from mss.auth import Authenticator
from mss.imap.listeners import close_sessions, start_imap
from mss.imap.services import ImapServices
from mss.listening import Listener
from mss.tls import server_context

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


@dataclass
class ImapServer:
    folder: Path
    store: MemoryMailboxStore
    directory: MemoryDirectory
    audit: MemoryAuditLog
    services: ImapServices
    listeners: dict[str, Listener]
    accounts: list[dict[str, Any]] = field(default_factory=list)

    def account(self, kind: str, **match: Any) -> dict[str, Any]:
        for account in self.accounts:
            if account["kind"] == kind and all(account.get(k) == v for k, v in match.items()):
                return account
        raise LookupError(kind)

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.folder / "pki" / "ca.pem"))
        context.check_hostname = False
        return context

    async def connect(self, listener: str = "imaps", *, login: str | None = None) -> Client:
        port = self.listeners[listener].port
        context = self.client_context() if listener == "imaps" else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        client = Client(reader, writer)
        client.greeting = await client.read_response()
        if login is not None:
            account = self.account("PER") if login == "PER" else self.account_by(login)
            await client.ok(f'LOGIN "{account["address"]}" "{account["password"]}"')
        return client

    def account_by(self, address: str) -> dict[str, Any]:
        return next(a for a in self.accounts if a["address"] == address)


class Client:
    """Sends tagged commands and collects the response lines (literals inlined)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting = b""
        self.counter = 0

    async def read_response(self) -> bytes:
        line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 10)
        while (match := _LITERAL.search(line)) is not None:
            line += await self.reader.readexactly(int(match.group(1)))
            line += await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 10)
        return line

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, text: str | bytes) -> tuple[list[bytes], bytes]:
        """Untagged lines and the tagged line."""
        self.counter += 1
        tag = f"t{self.counter}".encode()
        data = text.encode() if isinstance(text, str) else text
        await self.send(tag + b" " + data + b"\r\n")
        return await self.until(tag)

    async def until(self, tag: bytes) -> tuple[list[bytes], bytes]:
        lines: list[bytes] = []
        while True:
            line = await self.read_response()
            if line.startswith(tag + b" "):
                return lines, line
            lines.append(line)

    async def ok(self, text: str | bytes) -> list[bytes]:
        lines, tagged = await self.command(text)
        assert b" OK " in tagged, (text, lines, tagged)
        return lines

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


async def start_server(folder: Path, **overrides: Any) -> AsyncIterator[ImapServer]:
    demo.prepare(folder, port_base=0)
    directory = MemoryDirectory(DirectorySettings(argon2_time_cost=1, argon2_memory_kib=8))
    store = MemoryMailboxStore()
    audit = MemoryAuditLog()
    accounts = json.loads((folder / demo.ACCOUNTS).read_text())
    await directory.add_domain(Domain(demo.OUR_DOMAIN, DomainKind.PROFESSIONAL))
    for account in accounts:
        if account["kind"] == "PATIENT":
            continue
        await directory.add_mailbox(demo._mailbox(demo.DemoAccount(**account)))
        await directory.set_password(account["address"], account["password"])
        await store.create_account(account["address"])
    for account in accounts:
        for delegate in account["delegates"]:
            await directory.add_delegate(account["address"], delegate)
    tls = TlsSettings(
        cert_file=folder / "pki" / "server.pem",
        key_file=folder / "pki" / "server.key",
        trust_anchors=folder / "pki" / "ca.pem",
    )
    settings = ImapSettings.model_validate(
        {"imap": {"port": 0}, "imaps": {"port": 0}, "auth_failure_delay": 0, **overrides}
    )
    services = ImapServices(
        store=store,
        authenticator=Authenticator(directory, failure_delay=0),
        audit=audit,
        settings=settings,
        tls_context=server_context(tls, request_client_cert=False),
    )
    listeners = {item.name: item for item in await start_imap(services)}
    server = ImapServer(folder, store, directory, audit, services, listeners, accounts)
    try:
        yield server
    finally:
        await close_sessions(services)
        for item in listeners.values():
            item.server.close()
