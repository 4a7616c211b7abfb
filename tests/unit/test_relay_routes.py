"""Routes to a domain (RFC 5321 §5.1, RFC 7505): static routes, MX by preference, implicit MX,
null MX; and dnspython's async resolver against a small DNS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import dns.asyncresolver
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from mss.relay.routes import (
    DnsResolver,
    DnsUnavailable,
    NoSuchDomain,
    RouteError,
    Routes,
    parse_route,
)
from mss.relay.session import Endpoint


class FakeResolver:
    def __init__(
        self,
        mx: dict[str, list[tuple[int, str]]],
        addresses: frozenset[str] = frozenset(),
        *,
        missing: frozenset[str] = frozenset(),
        failing: bool = False,
    ) -> None:
        self._mx = mx
        self._addresses = addresses
        self._missing = missing
        self._failing = failing

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        if self._failing:
            raise DnsUnavailable(domain)
        if domain in self._missing:
            raise NoSuchDomain(domain)
        return self._mx.get(domain, [])

    async def has_address(self, name: str) -> bool:
        return name in self._addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2525", Endpoint("127.0.0.1", 2525, None)),
        ("mx.peer.test:26", Endpoint("mx.peer.test", 26, "mx.peer.test")),
        ("mx.peer.test", Endpoint("mx.peer.test", 25, "mx.peer.test")),
        ("[::1]:2525", Endpoint("::1", 2525, None)),
    ],
)
def test_static_routes_are_parsed(text: str, expected: Endpoint) -> None:
    assert parse_route(text, 25) == expected


@pytest.mark.parametrize("text", ["", ":25", "host:0", "host:99999", "host:x", "[::1]x"])
def test_bad_static_routes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad static route"):
        parse_route(text, 25)


async def test_static_route_wins_over_dns() -> None:
    routes = Routes({"Peer.Test": "127.0.0.1:2525"}, port=25, resolver=FakeResolver({}))
    assert await routes.resolve("peer.test") == [Endpoint("127.0.0.1", 2525, None)]


async def test_mx_hosts_sorted_by_preference() -> None:
    resolver = FakeResolver({"peer.test": [(20, "b.peer.test"), (10, "a.peer.test")]})
    hosts = await Routes({}, port=2525, resolver=resolver).resolve("peer.test")
    assert [(h.host, h.port) for h in hosts] == [("a.peer.test", 2525), ("b.peer.test", 2525)]


async def test_implicit_mx_is_the_domain_itself() -> None:
    resolver = FakeResolver({}, frozenset({"peer.test"}))
    assert await Routes({}, port=25, resolver=resolver).resolve("peer.test") == [
        Endpoint("peer.test", 25, "peer.test")
    ]


@pytest.mark.parametrize(
    ("resolver", "code", "enhanced"),
    [
        (FakeResolver({"peer.test": [(0, ".")]}), 556, "5.1.10"),  # RFC 7505 null MX
        (FakeResolver({}), 550, "5.1.2"),  # no MX, no address
        (FakeResolver({}, missing=frozenset({"peer.test"})), 550, "5.1.2"),  # NXDOMAIN
        (FakeResolver({}, failing=True), 451, "4.4.3"),  # DNS down: retry
    ],
)
async def test_no_route(resolver: FakeResolver, code: int, enhanced: str) -> None:
    with pytest.raises(RouteError) as caught:
        await Routes({}, port=25, resolver=resolver).resolve("peer.test")
    assert (caught.value.code, caught.value.enhanced) == (code, enhanced)


# --- dnspython against a loopback DNS server ------------------------------------------------

ZONE: dict[tuple[str, str], list[str]] = {
    ("peer.test.", "MX"): ["20 mx2.peer.test.", "10 mx1.peer.test."],
    ("null.test.", "MX"): ["0 ."],
    ("implicit.test.", "A"): ["127.0.0.1"],
}
EXISTING = {"peer.test.", "null.test.", "implicit.test."}


class _DnsServer(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        if name == "down.test.":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in EXISTING:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (name, rdtype) in ZONE:
            rrset = dns.rrset.from_text_list(name, 60, "IN", rdtype, ZONE[(name, rdtype)])
            response.answer.append(rrset)
        self.transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def dns_resolver() -> AsyncIterator[DnsResolver]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_DnsServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.lifetime = 2.0
    yield DnsResolver(resolver)
    transport.close()


async def test_dnspython_mx_lookup(dns_resolver: DnsResolver) -> None:
    routes = Routes({}, port=25, resolver=dns_resolver)
    assert [h.host for h in await routes.resolve("peer.test")] == ["mx1.peer.test", "mx2.peer.test"]
    assert await routes.resolve("implicit.test") == [Endpoint("implicit.test", 25, "implicit.test")]
    for domain, enhanced in [("null.test", "5.1.10"), ("nowhere.test", "5.1.2")]:
        with pytest.raises(RouteError) as caught:
            await routes.resolve(domain)
        assert caught.value.enhanced == enhanced
    with pytest.raises(RouteError) as caught:
        await routes.resolve("down.test")
    assert caught.value.enhanced == "4.4.3"
