"""Resolve an address to what the directory knows of it (a ``Party`` for the policy).

Lookups are cached for a short time (``ttl`` seconds): an SMTP transaction asks about the same
sender at every RCPT, and domains almost never change. A change made by an administrator (a
suspension, a profile state) is seen by every node within ``ttl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from directory.interfaces import Directory
from directory.models import Domain, DomainKind
from mss.policy import Party

MAX_ENTRIES = 10_000
V = TypeVar("V")


class Resolver:
    def __init__(
        self,
        directory: Directory,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = ttl
        self._clock = clock
        self._domains: dict[str, tuple[float, Domain | None]] = {}
        self._parties: dict[str, tuple[float, Party]] = {}

    async def resolve(self, address: str) -> Party:
        address = normalise_address(address)
        cached = self._parties.get(address)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        party = await self._lookup(address)
        self._remember(self._parties, address, party)
        return party

    async def _lookup(self, address: str) -> Party:
        domain = await self._domain(address.rpartition("@")[2])
        if domain is None:
            return Party(address)
        if domain.kind is DomainKind.PATIENT:
            return Party(address, domain, patient=await self._directory.get_patient(address))
        return Party(address, domain, mailbox=await self._directory.get_mailbox(address))

    async def _domain(self, name: str) -> Domain | None:
        cached = self._domains.get(name)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        domain = await self._directory.get_domain(name)
        self._remember(self._domains, name, domain)
        return domain

    def _remember(self, cache: dict[str, tuple[float, V]], key: str, value: V) -> None:
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[key] = (self._clock() + self._ttl, value)


def normalise_address(address: str) -> str:
    """Addresses are case-insensitive here: every BAL and INS address is stored lower-case."""
    return address.strip().lower()
