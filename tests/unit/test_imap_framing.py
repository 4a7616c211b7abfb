"""Assembling a command from lines and literals, as a session does (LITERAL+ included)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.imap.command import Append, Login, NoArgs
from mss.wire.imap.errors import ImapSyntaxError, LiteralTooLargeError
from mss.wire.imap.framing import CommandAssembler, is_idle_done, parse_sasl_response
from mss.wire.imap.lexer import Limits, LiteralRequest
from mss.wire.imap.response import Atom, Data, mailbox_value, render


def test_login_with_two_literals() -> None:
    assembler = CommandAssembler()
    assert assembler.line(b"A001 LOGIN {11}\r\n") == LiteralRequest("A001", 11, False)
    assert assembler.pending == LiteralRequest("A001", 11, False)
    assembler.literal(b"FRED FOOBAR")
    assert assembler.line(b" {7+}\r\n") == LiteralRequest("A001", 7, True)
    assembler.literal(b"fat man")
    assert assembler.line(b"\r\n") == Login("A001", "FRED FOOBAR", "fat man")
    assert assembler.pending is None
    assert assembler.line(b"A002 NOOP\r\n") == NoArgs("A002", "NOOP")


def test_too_large_literal_is_refused_before_it_is_read_and_resets() -> None:
    assembler = CommandAssembler(Limits(max_append_literal=100))
    with pytest.raises(LiteralTooLargeError) as info:
        assembler.line(b"a APPEND INBOX {101}\r\n")
    assert (info.value.tag, info.value.size) == ("a", 101)
    assert assembler.pending is None
    assert assembler.line(b"b NOOP\r\n") == NoArgs("b", "NOOP")


def test_syntax_error_resets() -> None:
    assembler = CommandAssembler()
    assert isinstance(assembler.line(b"a LOGIN {1}\r\n"), LiteralRequest)
    assembler.literal(b"x")
    with pytest.raises(ImapSyntaxError):
        assembler.line(b" (\r\n")
    assert assembler.line(b"b NOOP\r\n") == NoArgs("b", "NOOP")


def test_misuse_is_a_programming_error() -> None:
    assembler = CommandAssembler()
    with pytest.raises(RuntimeError):
        assembler.literal(b"x")
    assembler.line(b"a LOGIN {2}\r\n")
    with pytest.raises(RuntimeError):
        assembler.literal(b"x")
    with pytest.raises(RuntimeError):
        assembler.line(b"more\r\n")


def test_literal_count_is_capped() -> None:
    assembler = CommandAssembler(Limits(max_literals=3))
    assembler.line(b"a SEARCH TEXT {1}\r\n")
    for _ in range(2):
        assembler.literal(b"x")
        assembler.line(b" TEXT {1}\r\n")
    assembler.literal(b"x")
    with pytest.raises(ImapSyntaxError):
        assembler.line(b" TEXT {1}\r\n")


@given(st.binary(max_size=500), st.booleans())
def test_append_literal_round_trip(message: bytes, non_sync: bool) -> None:
    assembler = CommandAssembler()
    plus = b"+" if non_sync else b""
    request = assembler.line(b"a APPEND Sent {%d%s}\r\n" % (len(message), plus))
    assert request == LiteralRequest("a", len(message), non_sync)
    assembler.literal(message)
    result = assembler.line(b"\r\n")
    assert isinstance(result, Append)
    assert result.message == message


def test_idle_done() -> None:
    assert is_idle_done(b"DONE\r\n")
    assert is_idle_done(b"done\r\n")
    assert not is_idle_done(b"DONE\r\r\n")
    assert not is_idle_done(b"a NOOP\r\n")
    assert not is_idle_done(b"DONE")


def test_sasl_responses() -> None:
    assert parse_sasl_response(b"AGZyZWQAcHc=\r\n") == b"\x00fred\x00pw"
    assert parse_sasl_response(b"\r\n") == b""
    assert parse_sasl_response(b"*\r\n") is None
    for bad in (b"AGZy!\r\n", b"AGZ\r\n", b"AGZyZWQ="):
        with pytest.raises(ImapSyntaxError):
            parse_sasl_response(bad)


def test_mailbox_names_in_responses() -> None:
    listing = Data((Atom("LIST"), (), "/", mailbox_value("Éléments envoyés")))
    assert render(listing) == b'* LIST () "/" "&AMk-l&AOk-ments envoy&AOk-s"\r\n'
    assert mailbox_value("INBOX") == Atom("INBOX")
    assert mailbox_value("Nil") == "Nil"
    assert mailbox_value("Tom & Jerry") == "Tom &- Jerry"
