"""Decoders and literals of IMAP BINARY (RFC 3516): mss/wire/imap/binary.py, streaming.py,
and the literal8 of APPEND in the parser."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.imap import binary
from mss.wire.imap.binary import (
    UnknownEncodingError,
    decode,
    decoded_size,
    iter_decoded,
    normalise,
)
from mss.wire.imap.command import Append
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.lexer import LiteralRequest
from mss.wire.imap.parser import parse_command
from mss.wire.imap.response import Literal
from mss.wire.imap.streaming import Streamed, decoded_literal, plain_literal, without_nul


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


@pytest.fixture(params=[binary.CHUNK, 5, 64])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run with the real chunk size and with tiny ones, so every boundary case is crossed."""
    size = int(request.param)
    monkeypatch.setattr(binary, "CHUNK", size)
    return size


@given(st.binary(max_size=2000))
def test_base64_round_trip(data: bytes) -> None:
    for size in (binary.CHUNK, 5, 64, 77):
        old, binary.CHUNK = binary.CHUNK, size
        try:
            assert decode(_b64(data), "base64") == data
            assert decoded_size(_b64(data), "base64") == len(data)
        finally:
            binary.CHUNK = old


@given(st.binary(max_size=2000), st.booleans())
def test_quoted_printable_round_trip(data: bytes, tabs: bool) -> None:
    encoded = binascii.b2a_qp(data, quotetabs=tabs, istext=False).replace(b"\n", b"\r\n")
    for size in (binary.CHUNK, 5, 80):
        old, binary.CHUNK = binary.CHUNK, size
        try:
            assert decode(encoded, "quoted-printable") == data
            assert decoded_size(encoded, "quoted-printable") == len(data)
        finally:
            binary.CHUNK = old


@given(st.binary(max_size=600), st.integers(0, 700), st.integers(1, 700))
def test_any_window_is_the_slice_of_the_whole(data: bytes, start: int, length: int) -> None:
    for size in (binary.CHUNK, 7):
        old, binary.CHUNK = binary.CHUNK, size
        try:
            for encoded, cte in ((_b64(data), "base64"), (data, "binary")):
                got = b"".join(iter_decoded(encoded, cte, start, length))
                assert got == data[start : start + length]
        finally:
            binary.CHUNK = old


def test_lenient_base64(chunk: int) -> None:
    # RFC 2045 §6.8: characters outside the alphabet are ignored; '=' ends the data.
    assert decode(b"AA\r\nE*C/w==\r\n", "base64") == b"\x00\x01\x02\xff"
    assert decode(b"AAEC/w==IGNORED", "base64") == b"\x00\x01\x02\xff"
    assert decode(b"AAEC/w", "base64") == b"\x00\x01\x02\xff"  # padding left out
    assert decode(b"", "base64") == b""


def test_qp_trailing_blanks_are_transport_padding(chunk: int) -> None:
    # RFC 2045 §6.7 (3): blanks ending a line go; blanks before a soft break stay.
    encoded = b"foo \t\r\nbar \t=\r\nbaz  "
    assert decode(encoded, "quoted-printable") == b"foo\r\nbar \tbaz"
    assert decoded_size(encoded, "quoted-printable") == len(b"foo\r\nbar \tbaz")


def test_qp_line_longer_than_a_chunk_is_not_cut_inside_an_escape(chunk: int) -> None:
    encoded = b"=41" * 50 + b"=\r\nz"
    assert decode(encoded, "quoted-printable") == b"A" * 50 + b"z"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (None, "7bit"),
        ("", "7bit"),
        (" Base64 ", "base64"),
        ("QUOTED-PRINTABLE", "quoted-printable"),
        ("8bit (comment)", "8bit"),
        ("binary", "binary"),
    ],
)
def test_normalise(field: str | None, expected: str) -> None:
    assert normalise(field) == expected


@pytest.mark.parametrize("field", ["x-uuencode", "x-gzip64", "bas e64"])
def test_unknown_encoding(field: str) -> None:
    with pytest.raises(UnknownEncodingError):
        normalise(field)


def test_literal8_only_when_the_window_holds_nul() -> None:
    encoded = _b64(b"ab\x00cd")
    assert decoded_literal(encoded, "base64", None) == Literal(b"ab\x00cd", binary=True)
    assert decoded_literal(encoded, "base64", (3, 5)) == Literal(b"cd", binary=False)
    assert decoded_literal(encoded, "base64", (0, 2)) == Literal(b"ab", binary=False)
    assert decoded_literal(encoded, "base64", (2, 1)) == Literal(b"\x00", binary=True)
    assert decoded_literal(encoded, "base64", (99, 1)) == Literal(b"", binary=False)
    assert decoded_literal(b"a\x00", "8bit", (1, 1)) == Literal(b"\x00", binary=True)


def test_large_literals_are_streamed() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    streamed = decoded_literal(_b64(data), "base64", None)
    assert isinstance(streamed, Streamed)
    assert streamed.announcement() == b"~{%d}\r\n" % len(data)
    assert b"".join(streamed.chunks) == data
    body = plain_literal(data, (1, len(data)))
    assert isinstance(body, Streamed)
    assert body.announcement() == b"{%d}\r\n" % (len(data) - 1)
    assert b"".join(body.chunks) == data[1:].replace(b"\x00", b"\x80")


def test_a_window_without_length_runs_to_the_end() -> None:
    """``BINARY[n]<origin>`` (accepted as Dovecot does, imaptest fetch-binary-mime-base64):
    small and streamed, literal8 only when what is left holds NUL."""
    encoded = _b64(b"ab\x00cd")
    assert decoded_literal(encoded, "base64", (3, None)) == Literal(b"cd", binary=False)
    assert decoded_literal(encoded, "base64", (1, None)) == Literal(b"b\x00cd", binary=True)
    assert decoded_literal(encoded, "base64", (9, None)) == Literal(b"", binary=False)
    data = b"\x00" + bytes(range(1, 256)) * 2048  # about 512 KiB, one NUL at the start
    streamed = decoded_literal(_b64(data), "base64", (1, None))
    assert isinstance(streamed, Streamed)
    assert streamed.announcement() == b"{%d}\r\n" % (len(data) - 1)
    assert b"".join(streamed.chunks) == data[1:]
    streamed = decoded_literal(data, "binary", (0, None))
    assert isinstance(streamed, Streamed)
    assert streamed.announcement() == b"~{%d}\r\n" % len(data)


def test_body_literals_never_carry_nul() -> None:
    assert plain_literal(b"a\x00b", None) == Literal(b"a\x80b")
    assert plain_literal(b"abc", (1, 5)) == Literal(b"bc")
    assert plain_literal(b"abc", (10, 5)) == Literal(b"")


def test_structures_never_carry_nul() -> None:
    value = ("a\x00b", (b"c\x00", None, 3), Literal(b"\x00"), Literal(b"\x00", binary=True))
    assert without_nul(value) == (
        "a\ufffdb",
        (b"c\x80", None, 3),
        Literal(b"\x80"),
        Literal(b"\x00", binary=True),
    )


def test_append_takes_a_literal8() -> None:
    request = parse_command(b"a APPEND INBOX ~{3}\r\n")
    assert request == LiteralRequest("a", 3, non_synchronizing=False)
    command = parse_command(b"a APPEND INBOX (\\Seen) ~{3+}\r\na\x00b\r\n")
    assert isinstance(command, Append)
    assert command.message == b"a\x00b"
    assert command.flags == ("\\Seen",)


@pytest.mark.parametrize(
    "line",
    [b"a APPEND INBOX ~~{3}\r\n", b"a APPEND INBOX ~ {3}\r\n", b"a APPEND INBOX ~3\r\n"],
)
def test_bad_literal8(line: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_command(line)


def test_literal8_only_in_append() -> None:
    with pytest.raises(ImapSyntaxError):
        parse_command(b"a LOGIN ~{1+}\r\nx ~{1+}\r\ny\r\n")
