"""IMAP response rendering (RFC 3501 §7): statuses, codes, strings, literals, FETCH."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.imap.dates import render_date_time
from mss.wire.imap.lexer import Reader
from mss.wire.imap.response import (
    Atom,
    Code,
    Continuation,
    Data,
    FetchData,
    Literal,
    Tagged,
    Untagged,
    render,
    render_astring,
    render_string,
    render_value,
)


def test_tagged_with_codes() -> None:
    assert render(Tagged("a1", "OK", "SELECT completed", Code("READ-WRITE"))) == (
        b"a1 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert render(Tagged("A003", "OK", "APPEND completed", Code("APPENDUID", (38505, 3955)))) == (
        b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    )
    code = Code("COPYUID", (38505, Atom("304,319:320"), Atom("3956:3958")))
    assert render(Tagged("A004", "OK", "Done", code)) == (
        b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"
    )
    assert render(Tagged("b", "NO", "", Code("TRYCREATE"))) == b"b NO [TRYCREATE] done\r\n"


def test_untagged_statuses_and_data() -> None:
    flags = (Atom("\\Deleted"), Atom("\\Seen"), Atom("\\*"))
    assert render(Untagged("OK", "Limited", Code("PERMANENTFLAGS", (flags,)))) == (
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
    )
    assert render(Untagged("OK", "UIDs valid", Code("UIDVALIDITY", (3857529045,)))) == (
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
    )
    assert render(Untagged("OK", "x", Code("HIGHESTMODSEQ", (715194045007,)))) == (
        b"* OK [HIGHESTMODSEQ 715194045007] x\r\n"
    )
    caps = (Atom("IMAP4rev1"), Atom("STARTTLS"), Atom("LOGINDISABLED"))
    assert render(Untagged("OK", "ready", Code("CAPABILITY", caps))) == (
        b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"
    )
    assert render(Untagged("BYE", "Logging out")) == b"* BYE Logging out\r\n"
    assert render(Data((172, Atom("EXISTS")))) == b"* 172 EXISTS\r\n"
    assert render(Data((Atom("SEARCH"), 2, 84, 882))) == b"* SEARCH 2 84 882\r\n"
    listing = Data((Atom("LIST"), (Atom("\\Noselect"),), "/", Atom("~/Mail/foo")))
    assert render(listing) == b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n'


def test_continuation() -> None:
    assert render(Continuation("Ready")) == b"+ Ready\r\n"
    assert render(Continuation()) == b"+ \r\n"


def test_text_cannot_break_the_line() -> None:
    out = render(Tagged("a", "NO", "evil\r\n* OK injected é"))
    assert out.count(b"\r\n") == 1
    assert out.endswith(b"\r\n")
    with pytest.raises(ValueError, match="status"):
        render(Tagged("a", "MAYBE", "x"))
    with pytest.raises(ValueError, match="status"):
        render(Tagged("a", "BYE", "x"))
    assert render(Untagged("PREAUTH", "hi")) == b"* PREAUTH hi\r\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"NIL"),
        (0, b"0"),
        ("hello world", b'"hello world"'),
        ('a"b\\c', b'"a\\"b\\\\c"'),
        ("", b'""'),
        ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
        ("é", b"{2}\r\n\xc3\xa9"),
        (b"\x80", b"{1}\r\n\x80"),
        (Literal(b"abc"), b"{3}\r\nabc"),
        (Literal(b"a\x00", binary=True), b"~{2}\r\na\x00"),
        ((1, None, ("x",)), b'(1 NIL ("x"))'),
        ((), b"()"),
    ],
)
def test_values(value: object, expected: bytes) -> None:
    assert render_value(value) == expected  # type: ignore[arg-type]


def test_astring_prefers_an_atom() -> None:
    assert render_astring("INBOX") == b"INBOX"
    assert render_astring("nil") == b'"nil"'
    assert render_astring("Sent Items") == b'"Sent Items"'
    assert render_astring("a]b") == b'"a]b"'
    assert render_astring("") == b'""'


def test_fetch_response() -> None:
    items = (("UID", 4827), ("FLAGS", (Atom("\\Seen"),)), ("BODY[]<0>", Literal(b"Hi")))
    assert (
        render(FetchData(12, items))
        == b"* 12 FETCH (UID 4827 FLAGS (\\Seen) BODY[]<0> {2}\r\nHi)\r\n"
    )


def test_negative_numbers_and_booleans_are_refused() -> None:
    with pytest.raises(ValueError, match="unsigned"):
        render_value(-1)
    with pytest.raises(TypeError):
        render_value(True)


@given(st.binary(max_size=100))
def test_rendered_strings_parse_back(data: bytes) -> None:
    rendered = render_string(data)
    reader = Reader(rendered + b"\r\n")
    assert reader.string() == data
    reader.end()


def test_internal_date_rendering() -> None:
    when = datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7)))
    assert render_date_time(when) == "17-Jul-1996 02:44:25 -0700"
