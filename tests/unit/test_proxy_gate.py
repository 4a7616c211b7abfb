"""The PROXY gate's pieces: trusted-proxy matching, the settings, and the byte-exact header read
over a socket pair (the protocol tests drive the whole gate over TCP)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest
from pydantic import ValidationError

from config import Settings
from config.settings import ProxySettings
from mss.proxy_gate import PEEK, ProxyGate, read_header
from mss.wire.proxy import Endpoint, ProxyHeader, ProxyHeaderError, render_v1, render_v2

HEADER = ProxyHeader(
    1, Endpoint(IPv4Address("198.51.100.1"), 1234), Endpoint(IPv4Address("192.0.2.1"), 25)
)


def gate(*trusted: str) -> ProxyGate:
    settings = ProxySettings.model_validate({"trusted_proxies": list(trusted)})

    async def handover(sock: socket.socket, client: str | None) -> None:
        raise AssertionError("not used")

    return ProxyGate("test", settings, handover, lambda peer, reason: None)


def test_trusted_networks_and_addresses() -> None:
    checker = gate("10.0.0.0/8", "192.0.2.7", "2001:db8::/32")
    assert checker.trusts("10.200.3.4")
    assert checker.trusts("192.0.2.7")
    assert not checker.trusts("192.0.2.8")
    assert checker.trusts("2001:db8:1::5")
    assert checker.trusts("::ffff:10.0.0.1")  # seen on a dual-stack listener
    assert not checker.trusts("2001:db9::1")
    assert not checker.trusts("")
    assert not checker.trusts("not-an-address")


def test_nothing_is_trusted_by_default() -> None:
    assert not gate().trusts("127.0.0.1")


@pytest.mark.parametrize("value", ["10.0.0.1/8", "10.0.0.0/33", "example.org", "10.0.0.0/8 "])
def test_settings_refuse_what_is_not_a_network(value: str) -> None:
    with pytest.raises(ValidationError):
        ProxySettings.model_validate({"trusted_proxies": [value]})


def test_listeners_are_not_proxied_by_default() -> None:
    settings = Settings()
    listeners = [settings.smtp.mx, settings.smtp.submission, settings.smtp.submissions]
    listeners += [settings.imap.imap, settings.imap.imaps]
    assert not any(listener.proxy_protocol for listener in listeners)
    assert settings.proxy.trusted_proxies == []


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    with ours, theirs:
        yield ours, theirs


async def test_header_sent_byte_by_byte_then_nothing_more_is_consumed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    data = render_v1(HEADER)

    async def trickle() -> None:
        for i in range(len(data)):
            theirs.send(data[i : i + 1])
            await asyncio.sleep(0.001)
        theirs.send(b"\x16\x03\x01 client hello")

    sender = asyncio.create_task(trickle())
    assert await asyncio.wait_for(read_header(ours), 5) == HEADER
    await sender
    await asyncio.sleep(0.01)
    assert ours.recv(100) == b"\x16\x03\x01 client hello"


async def test_v2_with_tlvs_larger_than_one_peek(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    header = ProxyHeader(2, HEADER.source, HEADER.destination)
    tlv = b"\xe0" + (3 * PEEK).to_bytes(2, "big") + bytes(3 * PEEK)
    theirs.sendall(render_v2(header, tlv) + b"a1 NOOP\r\n")
    assert await asyncio.wait_for(read_header(ours), 5) == header
    assert ours.recv(100) == b"a1 NOOP\r\n"


async def test_garbage_and_early_close(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    theirs.sendall(b"EHLO x\r\n")
    with pytest.raises(ProxyHeaderError):
        await asyncio.wait_for(read_header(ours), 5)
    theirs.close()
    other, peer = socket.socketpair()
    other.setblocking(False)
    with other:
        peer.sendall(b"PROXY TCP4 ")
        peer.close()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(read_header(other), 5)


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.peer: object = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        self.data += data


async def test_gate_over_tcp_on_the_asyncio_loop() -> None:
    """The whole gate on asyncio's own loop (the protocol tests run it on uvloop): trusted
    header then data handed over intact; untrusted source, garbage and silence refused."""
    loop = asyncio.get_running_loop()
    handed: list[tuple[str | None, Collect]] = []
    refused: list[tuple[str, str]] = []

    async def handover(sock: socket.socket, client: str | None) -> None:
        protocol = Collect()
        await loop.connect_accepted_socket(lambda: protocol, sock)
        handed.append((client, protocol))

    settings = ProxySettings.model_validate(
        {"trusted_proxies": ["127.0.0.1"], "header_timeout": 0.3}
    )
    checker = ProxyGate("test", settings, handover, lambda peer, why: refused.append((peer, why)))
    server = await loop.create_server(checker.protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(render_v1(HEADER) + b"EHLO x\r\n")
        _, garbage = await asyncio.open_connection("127.0.0.1", port)
        garbage.write(b"EHLO x\r\n")
        _, silent = await asyncio.open_connection("127.0.0.1", port)
        _, stranger = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        await asyncio.sleep(0.6)
        assert [client for client, _ in handed] == ["198.51.100.1:1234"]
        assert handed[0][1].data == b"EHLO x\r\n"
        reasons = sorted(why.split(":")[0] for _, why in refused)
        assert reasons == ["bad proxy header", "proxy header timeout", "untrusted proxy"]
        for stream in (writer, garbage, silent, stranger):
            stream.close()
    finally:
        await checker.close()
        server.close()
        await server.wait_closed()
