"""Where to deliver a domain's mail: a static route from the settings, else its MX hosts.

RFC 5321 §5.1: MX records sorted by preference (equal preferences in random order); no MX record
means the domain itself is the host when it has an address (implicit MX). RFC 7505: a null MX
(one record, exchange ``.``) says the domain accepts no mail: a permanent failure.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.resolver

from mss.relay.session import Endpoint


class RouteError(Exception):
    """No host to deliver to; ``code``/``enhanced`` say whether it is worth retrying."""

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.enhanced = enhanced
        self.text = text


class NoSuchDomain(Exception):
    """The name does not exist (NXDOMAIN)."""


class DnsUnavailable(Exception):
    """The lookup failed for now (timeout, SERVFAIL)."""


class MxResolver(Protocol):
    async def mx(self, domain: str) -> list[tuple[int, str]]:
        """(preference, exchange) records; [] when there are none; NoSuchDomain/DnsUnavailable."""
        ...

    async def has_address(self, name: str) -> bool:
        """Whether ``name`` has an A or AAAA record; DnsUnavailable when unknown."""
        ...


class DnsResolver:
    """``MxResolver`` over dnspython's async resolver (the system's name servers by default)."""

    def __init__(self, resolver: dns.asyncresolver.Resolver | None = None) -> None:
        self._resolver = resolver or dns.asyncresolver.Resolver()

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        answer = await self._query(domain, "MX")
        if answer is None:
            return []
        return [(int(r.preference), r.exchange.to_text(omit_final_dot=True)) for r in answer]

    async def has_address(self, name: str) -> bool:
        for rdtype in ("A", "AAAA"):
            try:
                if await self._query(name, rdtype) is not None:
                    return True
            except NoSuchDomain:
                return False
        return False

    async def _query(self, name: str, rdtype: str) -> dns.resolver.Answer | None:
        try:
            return await self._resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise NoSuchDomain(name) from None
        except dns.resolver.NoAnswer:
            return None
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as error:
            raise DnsUnavailable(f"{name} {rdtype}: {type(error).__name__}") from None


class Routes:
    """Static routes first (``host:port``), else MX lookup with ``port``."""

    def __init__(
        self, static: Mapping[str, str], *, port: int, resolver: MxResolver | None = None
    ) -> None:
        self._static = {domain.lower(): parse_route(r, port) for domain, r in static.items()}
        self._port = port
        self._resolver = resolver

    async def resolve(self, domain: str) -> list[Endpoint]:
        """The hosts to try in order; ``RouteError`` when there is none."""
        static = self._static.get(domain.lower())
        if static is not None:
            return [static]
        resolver = self._resolver or DnsResolver()
        try:
            return await self._mx_hosts(resolver, domain)
        except NoSuchDomain:
            raise RouteError(
                550, "5.1.2", f"no route to {domain}: the domain does not exist"
            ) from None
        except DnsUnavailable as error:
            raise RouteError(
                451, "4.4.3", f"no route to {domain} for now: DNS failure ({error})"
            ) from None

    async def _mx_hosts(self, resolver: MxResolver, domain: str) -> list[Endpoint]:
        records = await resolver.mx(domain)
        if not records:  # RFC 5321 §5.1: the implicit MX
            if await resolver.has_address(domain):
                return [Endpoint(domain, self._port, domain)]
            raise RouteError(550, "5.1.2", f"no route to {domain}: no MX and no address")
        if any(exchange in ("", ".") for _, exchange in records):
            # RFC 7505 §3: a null MX; the domain accepts no mail.
            raise RouteError(556, "5.1.10", f"{domain} accepts no mail (null MX)")
        return [Endpoint(host, self._port, host) for host in _by_preference(records)]


def parse_route(route: str, default_port: int) -> Endpoint:
    """``host``, ``host:port`` or ``[v6]:port`` of a static route; ValueError when malformed."""
    text = route.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else "x")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    port = int(port_text) if port_text.isdigit() else (default_port if not port_text else -1)
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad static route {route!r}: expected host:port")
    is_literal = text.startswith("[") or host.replace(".", "").isdigit()
    return Endpoint(host, port, None if is_literal else host)


def _by_preference(records: list[tuple[int, str]]) -> list[str]:
    shuffled = random.sample(records, len(records))
    hosts: list[str] = []
    for _, exchange in sorted(shuffled, key=lambda record: record[0]):
        if exchange not in hosts:
            hosts.append(exchange)
    return hosts
