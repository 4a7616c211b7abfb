"""The PROXY protocol header parser (HAProxy proxy-protocol.txt, v1 and v2): pure, no sockets."""

from __future__ import annotations

import contextlib
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.proxy import (
    SHORTEST,
    V1_MAX,
    V2_SIGNATURE,
    Endpoint,
    ProxyHeader,
    ProxyHeaderError,
    header_length,
    parse_header,
    render_v1,
    render_v2,
)

CLIENT4 = Endpoint(IPv4Address("203.0.113.7"), 51234)
SERVER4 = Endpoint(IPv4Address("10.0.0.2"), 993)
CLIENT6 = Endpoint(IPv6Address("2001:db8::7"), 40000)
SERVER6 = Endpoint(IPv6Address("2001:db8::2"), 25)


def v2(ver_cmd: int, fam: int, body: bytes) -> bytes:
    return V2_SIGNATURE + bytes([ver_cmd, fam]) + len(body).to_bytes(2, "big") + body


# --- version 1 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 993\r\n", ProxyHeader(1, CLIENT4, SERVER4)),
        (b"PROXY TCP6 2001:db8::7 2001:db8::2 40000 25\r\n", ProxyHeader(1, CLIENT6, SERVER6)),
        (b"PROXY UNKNOWN\r\n", ProxyHeader(1)),
        (b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", ProxyHeader(1)),
        (
            b"PROXY TCP4 192.0.2.0 255.255.255.255 0 65535\r\n",
            ProxyHeader(
                1,
                Endpoint(IPv4Address("192.0.2.0"), 0),
                Endpoint(IPv4Address("255.255.255.255"), 65535),
            ),
        ),
    ],
)
def test_v1_accepts(line: bytes, expected: ProxyHeader) -> None:
    assert header_length(line) == len(line)
    assert parse_header(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 203.0.113.7 10.0.0.2 51234\r\n",  # a port missing
        b"PROXY TCP4  203.0.113.7 10.0.0.2 51234 993\r\n",  # two spaces
        b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 993 \r\n",  # trailing space
        b"PROXY TCP5 203.0.113.7 10.0.0.2 51234 993\r\n",
        b"PROXY tcp4 203.0.113.7 10.0.0.2 51234 993\r\n",
        b"PROXY TCP4 2001:db8::7 10.0.0.2 51234 993\r\n",  # IPv6 under TCP4
        b"PROXY TCP6 203.0.113.7 2001:db8::2 51234 993\r\n",  # IPv4 under TCP6
        b"PROXY TCP4 203.0.113.07 10.0.0.2 51234 993\r\n",  # leading zero in an octet
        b"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n",  # zone id
        b"PROXY TCP4 203.0.113.7 10.0.0.2 051234 993\r\n",  # leading zero in a port
        b"PROXY TCP4 203.0.113.7 10.0.0.2 65536 993\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.2 -1 993\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.2 +1 993\r\n",
        b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 993\n",  # bare LF
        b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 \xff993\r\n",
    ],
)
def test_v1_refuses(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_header(line)


def test_v1_longer_than_107_bytes_is_refused_before_its_end() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (V1_MAX - 16) + b"\r\n"
    assert len(line) == V1_MAX
    assert parse_header(line) == ProxyHeader(1)
    with pytest.raises(ProxyHeaderError):
        header_length(b"PROXY UNKNOWN " + b"x" * V1_MAX)  # no CRLF within 107 bytes


def test_v1_needs_more_until_crlf() -> None:
    line = render_v1(ProxyHeader(1, CLIENT4, SERVER4))
    for size in range(len(line)):
        assert header_length(line[:size]) is None
    assert header_length(line + b"EHLO x\r\n") == len(line)


# --- version 2 -----------------------------------------------------------------------------


def test_v2_tcp4_and_tcp6() -> None:
    body4 = CLIENT4.ip.packed + SERVER4.ip.packed + (51234).to_bytes(2, "big") + b"\x03\xe1"
    assert parse_header(v2(0x21, 0x11, body4)) == ProxyHeader(2, CLIENT4, SERVER4)
    body6 = CLIENT6.ip.packed + SERVER6.ip.packed + (40000).to_bytes(2, "big") + b"\x00\x19"
    assert parse_header(v2(0x21, 0x21, body6)) == ProxyHeader(2, CLIENT6, SERVER6)


def test_v2_tlvs_are_skipped() -> None:
    tlvs = b"\x01\x00\x02h2" + b"\x20\x00\x05\x01\x00\x00\x00\x00" + b"\xe0\x00\x00"
    header = render_v2(ProxyHeader(2, CLIENT4, SERVER4), tlvs)
    assert parse_header(header) == ProxyHeader(2, CLIENT4, SERVER4)
    garbage = render_v2(ProxyHeader(2, CLIENT4, SERVER4), b"\xff\xff")  # not even a TLV
    assert parse_header(garbage) == ProxyHeader(2, CLIENT4, SERVER4)


@pytest.mark.parametrize(
    "header",
    [
        v2(0x20, 0x00, b""),  # LOCAL: the balancer's own health check
        v2(0x20, 0x11, bytes(12)),  # LOCAL with addresses: they are ignored
        v2(0x21, 0x00, b""),  # PROXY, UNSPEC family
        v2(0x21, 0x00, b"\x04\x00\x00"),  # with a TLV
        v2(0x21, 0x31, bytes(216)),  # UNIX socket: no IP address
    ],
)
def test_v2_without_a_client_address_keeps_the_real_peer(header: bytes) -> None:
    assert parse_header(header) == ProxyHeader(2)


@pytest.mark.parametrize(
    "header",
    [
        v2(0x11, 0x11, bytes(12)),  # version 1 in a v2 header
        v2(0x31, 0x11, bytes(12)),
        v2(0x22, 0x11, bytes(12)),  # command 2
        v2(0x21, 0x41, bytes(12)),  # family 4
        v2(0x21, 0x13, bytes(12)),  # transport 3
        v2(0x21, 0x12, bytes(12)),  # UDP
        v2(0x21, 0x11, bytes(11)),  # address block truncated
        v2(0x21, 0x21, bytes(35)),
    ],
)
def test_v2_refuses(header: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_header(header)


def test_v2_length_is_known_from_16_bytes() -> None:
    header = render_v2(ProxyHeader(2, CLIENT6, SERVER6), b"\x04\x00\x10" + bytes(16))
    for size in range(16):
        assert header_length(header[:size]) is None
    assert header_length(header[:16]) == len(header)
    assert header_length(header + b"\x16\x03\x01") == len(header)  # a ClientHello may follow


@pytest.mark.parametrize(
    "data",
    [b"EHLO x\r\n", b"a1 LOGIN", b"\x16\x03\x01\x02\x00", b"PROXX", b"\r\n\r\n\x01", b"GET /"],
)
def test_anything_else_is_refused_from_its_first_bytes(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        header_length(data)


def test_a_partial_or_padded_header_is_not_a_header() -> None:
    line = render_v1(ProxyHeader(1, CLIENT4, SERVER4))
    with pytest.raises(ProxyHeaderError):
        parse_header(line[:-1])
    with pytest.raises(ProxyHeaderError):
        parse_header(line + b"x")


# --- properties ----------------------------------------------------------------------------

ports = st.integers(0, 65535)
v4 = st.builds(Endpoint, st.ip_addresses(v=4), ports)
v6 = st.builds(Endpoint, st.ip_addresses(v=6), ports)
pairs = st.one_of(st.tuples(v4, v4), st.tuples(v6, v6))


@given(st.binary(max_size=300))
def test_any_bytes_give_a_header_or_the_one_error(data: bytes) -> None:
    with contextlib.suppress(ProxyHeaderError):
        assert isinstance(parse_header(data), ProxyHeader)
    with contextlib.suppress(ProxyHeaderError):
        total = header_length(data)
        assert total is None or total >= SHORTEST


@given(st.sampled_from([V2_SIGNATURE, b"PROXY "]), st.binary(max_size=200))
def test_any_bytes_after_a_signature_give_a_header_or_the_one_error(
    signature: bytes, tail: bytes
) -> None:
    data = signature + tail
    with contextlib.suppress(ProxyHeaderError):
        total = header_length(data)
        if total is not None and total <= len(data):
            assert isinstance(parse_header(data[:total]), ProxyHeader)


@given(pairs)
def test_v1_round_trip(pair: tuple[Endpoint, Endpoint]) -> None:
    header = ProxyHeader(1, *pair)
    rendered = render_v1(header)
    assert SHORTEST <= len(rendered) <= V1_MAX
    assert parse_header(rendered) == header


@given(pairs, st.binary(max_size=64), st.binary(max_size=16))
def test_v2_round_trip(pair: tuple[Endpoint, Endpoint], tlvs: bytes, after: bytes) -> None:
    header = ProxyHeader(2, *pair)
    rendered = render_v2(header, tlvs)
    assert header_length(rendered + after) == len(rendered)
    assert parse_header(rendered) == header


def test_endpoint_renders_as_peer_fields_do() -> None:
    assert str(CLIENT4) == "203.0.113.7:51234"
    assert str(CLIENT6) == "2001:db8::7:40000"  # as mss writes IPv6 peers (split at the last ':')


def test_v1_shorter_than_the_shortest_line_is_refused() -> None:
    with pytest.raises(ProxyHeaderError):
        header_length(b"PROXY \r\n")
