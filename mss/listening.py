"""A started listener (SMTP or IMAP): its name, its asyncio server, and the PROXY gate in front."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mss.proxy_gate import ProxyGate


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    server: asyncio.Server
    gate: ProxyGate | None = None  # PROXY protocol in front (close it at shutdown)

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return str(self.server.sockets[0].getsockname()[0])
