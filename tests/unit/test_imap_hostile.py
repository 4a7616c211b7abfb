"""Hostile input to the IMAP command parser: any bytes, deep nesting, huge literals and sets."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mss.wire.imap.command import Append, Command, Login, Search
from mss.wire.imap.errors import ImapSyntaxError, LiteralTooLargeError
from mss.wire.imap.lexer import Limits, LiteralRequest
from mss.wire.imap.parser import parse_command

_FRAGMENTS = [
    b"a ",
    b"UID ",
    b"FETCH ",
    b"SEARCH ",
    b"STORE ",
    b"LIST ",
    b"APPEND ",
    b"LOGIN ",
    b"SELECT ",
    b"ID ",
    b"ENABLE ",
    b"STATUS ",
    b"1:* ",
    b"(",
    b")",
    b"[",
    b"]",
    b"<0.1>",
    b"{3}\r\n",
    b"{2+}\r\n",
    b'"',
    b"\\",
    b"NIL",
    b"OR ",
    b"NOT ",
    b"BODY",
    b".PEEK",
    b"HEADER.FIELDS ",
    b"&AOk-",
    b"\r\n",
    b" ",
    b"*",
    b"%",
    b"INBOX ",
    b"+FLAGS ",
    b"\\Seen",
    b"1-Feb-1994",
    b"RETURN ",
    b"CHARSET ",
    b"MODSEQ ",
    b"(CHANGEDSINCE 1)",
    b"abc",
    b"\xff",
    b"\x00",
    b"0",
]


def _outcome(data: bytes, limits: Limits | None = None) -> object:
    try:
        return parse_command(data, limits) if limits else parse_command(data)
    except ImapSyntaxError as exc:
        return exc


def _check(result: object) -> None:
    assert isinstance(result, Command | LiteralRequest | ImapSyntaxError), type(result)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_command_a_literal_request_or_the_error(data: bytes) -> None:
    _check(_outcome(data))
    _check(_outcome(data + b"\r\n"))


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=25))
def test_grammar_shaped_noise_never_escapes(parts: list[bytes]) -> None:
    data = b"".join(parts)
    _check(_outcome(data))
    _check(_outcome(b"t1 " + data + b"\r\n"))
    _check(_outcome(b"t1 UID " + data + b"\r\n", Limits(max_depth=3, max_literal=4)))


@given(st.binary(max_size=64))
def test_literal_round_trip(payload: bytes) -> None:
    line = b"a LOGIN {%d}\r\n" % len(payload)
    assert parse_command(line) == LiteralRequest("a", len(payload), False)
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        with pytest.raises(ImapSyntaxError):
            parse_command(line + payload + b" x\r\n")
        return
    assert parse_command(line + payload + b" x\r\n") == Login("a", payload.decode(), "x")


@given(st.binary(max_size=200))
def test_append_literal_round_trip(message: bytes) -> None:
    data = b"a APPEND INBOX {%d+}\r\n" % len(message) + message + b"\r\n"
    result = parse_command(data)
    assert isinstance(result, Append)
    assert result.message == message


def test_huge_literal_is_refused_before_reading() -> None:
    with pytest.raises(LiteralTooLargeError) as info:
        parse_command(b"a1 LOGIN {99999999999}\r\n")
    assert info.value.tag == "a1"
    assert info.value.size == 99999999999
    assert not info.value.non_synchronizing
    assert info.value.code == "TOOBIG"
    with pytest.raises(LiteralTooLargeError) as info:
        parse_command(b"a1 LOGIN {70000+}\r\n")
    assert info.value.non_synchronizing


def test_append_literal_has_its_own_cap() -> None:
    limits = Limits(max_literal=10, max_append_literal=1000)
    assert parse_command(b"a APPEND INBOX {1000}\r\n", limits) == LiteralRequest("a", 1000, False)
    with pytest.raises(LiteralTooLargeError):
        parse_command(b"a APPEND INBOX {1001}\r\n", limits)
    with pytest.raises(LiteralTooLargeError):
        parse_command(b"a LOGIN {11}\r\n", limits)


def test_absurd_literal_announcement_is_the_error() -> None:
    with pytest.raises(ImapSyntaxError):
        parse_command(b"a LOGIN {" + b"9" * 5000 + b"}\r\n")


@pytest.mark.parametrize(
    "line",
    [
        b"a SEARCH " + b"(" * 10_000 + b"ALL" + b")" * 10_000,
        b"a SEARCH " + b"NOT " * 10_000 + b"ALL",
        b"a SEARCH " + b"OR ALL " * 10_000 + b"ALL",
        b"a LIST " + b"(" * 10_000 + b'"" *',
        b"a SEARCH " + b"(" * 50,
        b"a SEARCH ALL" + b")" * 50,
        b"a FETCH 1 (FLAGS",
        b"a FETCH 1 (BODY[" + b"1." * 10_000 + b"1])",
    ],
)
def test_unbalanced_and_deep_parentheses(line: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ImapSyntaxError):
        parse_command(line + b"\r\n")
    assert time.perf_counter() - started < 1


def test_nesting_within_the_cap_is_fine() -> None:
    depth = 10
    result = parse_command(b"a SEARCH " + b"(" * depth + b"ALL" + b")" * depth + b"\r\n")
    assert isinstance(result, Search)


def test_huge_sequence_sets() -> None:
    fine = b",".join(b"%d" % n for n in range(1, 5000))  # clients send long UID sets
    assert isinstance(parse_command(b"a UID FETCH " + fine + b" FLAGS\r\n"), Command)
    many = b",".join(b"%d" % n for n in range(1, 100_002))  # past Limits.max_ranges
    with pytest.raises(ImapSyntaxError):
        parse_command(b"a FETCH " + many + b" FLAGS\r\n")
    result = parse_command(b"a UID FETCH 1:4294967295 FLAGS\r\n")
    assert isinstance(result, Command)
    with pytest.raises(ImapSyntaxError):
        parse_command(b"a UID FETCH 1:4294967296 FLAGS\r\n")


def test_invalid_utf7_mailbox_is_bad() -> None:
    for name in (b"&", b"&AGE-", b'"&Jjo!-"', b"\xe9t\xe9"):
        with pytest.raises(ImapSyntaxError):
            parse_command(b"a SELECT " + name + b"\r\n")


def test_too_many_list_items() -> None:
    flags = b" ".join(b"k%d" % n for n in range(2000))
    with pytest.raises(ImapSyntaxError):
        parse_command(b"a STORE 1 FLAGS (" + flags + b")\r\n")
