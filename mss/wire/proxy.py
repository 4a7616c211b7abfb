"""The PROXY protocol header a TCP load balancer (HAProxy) sends first on each connection, so
that the real client address survives the hop (HAProxy's ``proxy-protocol.txt``, versions 1
and 2).

Version 1 is one text line: ``PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\\r\\n`` of at
most 107 bytes. Version 2 is binary: a 12-byte signature, version/command, family/transport, a
length, the addresses, then TLVs (skipped here). ``LOCAL`` (health checks of the balancer
itself), ``UNKNOWN``/``UNSPEC`` and ``UNIX`` headers carry no usable client address: the
connection's own endpoints stand (``source`` is ``None``).

Pure code: :func:`header_length` says from the first bytes of a stream how long the header is
(so that a reader never consumes a byte past it: a TLS ClientHello may follow in the same
segment), :func:`parse_header` reads a whole header, ``render_v1``/``render_v2`` write one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mss.wire.errors import WireSyntaxError

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/transport, length
SHORTEST = 15  # b"PROXY UNKNOWN\r\n": a reader may always wait for this many bytes

_V2_LOCAL, _V2_PROXY = 0x0, 0x1
_AF_UNSPEC, _AF_INET, _AF_INET6, _AF_UNIX = 0x0, 0x1, 0x2, 0x3
_STREAM = 0x1
_ADDRESS_BLOCK = {_AF_UNSPEC: 0, _AF_INET: 12, _AF_INET6: 36, _AF_UNIX: 216}
_ADDRESS_CHARS = frozenset(b"0123456789abcdefABCDEF:.")


class ProxyHeaderError(WireSyntaxError):
    """Bytes that are not a valid PROXY protocol header."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: IPv4Address | IPv6Address
    port: int

    def __str__(self) -> str:
        """``ip:port``, the form every peer field of mss uses."""
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    version: int  # 1 or 2
    source: Endpoint | None = None  # None: keep the connection's own peer (LOCAL, UNKNOWN, …)
    destination: Endpoint | None = None


def header_length(data: bytes) -> int | None:
    """The total length of the header ``data`` starts with, ``None`` while more bytes are needed
    to know it; raises :class:`ProxyHeaderError` as soon as ``data`` cannot start a header."""
    if data[: len(V2_SIGNATURE)] == V2_SIGNATURE[: len(data)]:
        if len(data) < V2_FIXED:
            return None
        return V2_FIXED + int.from_bytes(data[14:16], "big")
    if data[: len(V1_PREFIX)] != V1_PREFIX[: len(data)]:
        raise ProxyHeaderError("no PROXY protocol signature")
    return _v1_length(data)


def _v1_length(data: bytes) -> int | None:
    end = data.find(b"\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 line too long")
        return None
    if end == 0 or data[end - 1] != ord("\r"):
        raise ProxyHeaderError("PROXY v1 line must end with CRLF")
    if end + 1 < SHORTEST:
        raise ProxyHeaderError("PROXY v1 line too short")
    return end + 1


def parse_header(data: bytes) -> ProxyHeader:
    """One whole header, nothing before or after it."""
    if header_length(data) != len(data):
        raise ProxyHeaderError("incomplete PROXY header or extra bytes")
    if data.startswith(V2_SIGNATURE):
        return _parse_v2(data)
    return _parse_v1(data)


# --- version 1 -----------------------------------------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader:
    fields = data[len(V1_PREFIX) : -2].split(b" ")
    if fields[0] == b"UNKNOWN":
        return ProxyHeader(1)  # the rest of the line is ignored (the spec says so)
    if len(fields) != 5:
        raise ProxyHeaderError("PROXY v1 needs protocol, two addresses and two ports")
    family, src, dst, sport, dport = fields
    if family == b"TCP4":
        kind: type[IPv4Address] | type[IPv6Address] = IPv4Address
    elif family == b"TCP6":
        kind = IPv6Address
    else:
        raise ProxyHeaderError("PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN")
    source = Endpoint(_v1_address(kind, src), _v1_port(sport))
    return ProxyHeader(1, source, Endpoint(_v1_address(kind, dst), _v1_port(dport)))


def _v1_address(
    kind: type[IPv4Address] | type[IPv6Address], text: bytes
) -> IPv4Address | IPv6Address:
    if not text or not set(text) <= _ADDRESS_CHARS:
        raise ProxyHeaderError("PROXY v1 address malformed")
    try:
        return kind(text.decode("ascii"))
    except ValueError as exc:
        raise ProxyHeaderError("PROXY v1 address malformed") from exc


def _v1_port(text: bytes) -> int:
    if not text.isdigit() or len(text) > 5 or (text.startswith(b"0") and text != b"0"):
        raise ProxyHeaderError("PROXY v1 port malformed")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError("PROXY v1 port out of range")
    return port


# --- version 2 -----------------------------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader:
    version, command = data[12] >> 4, data[12] & 0x0F
    family, transport = data[13] >> 4, data[13] & 0x0F
    if version != 2:
        raise ProxyHeaderError("PROXY v2 version must be 2")
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError("PROXY v2 command must be LOCAL or PROXY")
    if family not in _ADDRESS_BLOCK or transport > 2:
        raise ProxyHeaderError("PROXY v2 family or transport unknown")
    body = data[V2_FIXED:]
    if len(body) < _ADDRESS_BLOCK[family]:
        raise ProxyHeaderError("PROXY v2 address block truncated")
    if command == _V2_LOCAL or family in (_AF_UNSPEC, _AF_UNIX):
        return ProxyHeader(2)  # the balancer's own connection, or no IP: keep the real peer
    if transport != _STREAM:
        raise ProxyHeaderError("PROXY v2 transport must be STREAM (TCP)")
    return _v2_endpoints(family, body)  # TLVs after the addresses are skipped


def _v2_endpoints(family: int, body: bytes) -> ProxyHeader:
    if family == _AF_INET:
        src4, dst4, sport, dport = struct.unpack_from("!4s4sHH", body)
        source = Endpoint(IPv4Address(src4), sport)
        return ProxyHeader(2, source, Endpoint(IPv4Address(dst4), dport))
    src6, dst6, sport, dport = struct.unpack_from("!16s16sHH", body)
    return ProxyHeader(2, Endpoint(IPv6Address(src6), sport), Endpoint(IPv6Address(dst6), dport))


# --- renderers (tests, tools) --------------------------------------------------------------


def render_v1(header: ProxyHeader) -> bytes:
    source, destination = header.source, header.destination
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    _same_family(source, destination)
    family = "TCP4" if source.ip.version == 4 else "TCP6"
    line = f"PROXY {family} {source.ip} {destination.ip} {source.port} {destination.port}\r\n"
    return line.encode("ascii")


def render_v2(header: ProxyHeader, tlvs: bytes = b"") -> bytes:
    """``LOCAL`` when the header has no addresses, else ``PROXY`` over TCP; ``tlvs`` are
    appended as they are (the receiver skips them)."""
    source, destination = header.source, header.destination
    if source is None or destination is None:
        return V2_SIGNATURE + bytes([0x20 | _V2_LOCAL, 0x00]) + _u16(len(tlvs)) + tlvs
    _same_family(source, destination)
    family = _AF_INET if source.ip.version == 4 else _AF_INET6
    block = source.ip.packed + destination.ip.packed + _u16(source.port) + _u16(destination.port)
    body = block + tlvs
    fixed = bytes([0x20 | _V2_PROXY, family << 4 | _STREAM]) + _u16(len(body))
    return V2_SIGNATURE + fixed + body


def _same_family(source: Endpoint, destination: Endpoint) -> None:
    if source.ip.version != destination.ip.version:
        raise ValueError("source and destination must both be IPv4 or both IPv6")


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")
