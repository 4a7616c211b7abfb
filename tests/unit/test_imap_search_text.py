"""What SEARCH compares (``mss.imap.search_text``, RFC 3501 §6.4.4): folded text, decoded header
fields, addresses, the day of a Date: field, decoded MIME bodies; hostile input never raises."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mss.imap import search_text as t


def test_fold_is_case_insensitive_beyond_ascii() -> None:
    assert t.fold("Résultat ÉCHO") == t.fold("résultat écho")
    assert t.fold("STRASSE") in t.fold("Straße")  # full case folding
    assert t.fold("e\u0301") == t.fold("é")  # decomposed or not


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jean@chu.fr", "jean@chu.fr"),
        ("Jean  Martin <jean@chu.fr>", "Jean Martin <jean@chu.fr>"),
        ("<jean (service)@ (site) chu.fr>", "<jean@chu.fr> service site"),
        ("jean@chu.fr (Jean Martin)", "jean@chu.fr Jean Martin"),
        ('"Martin, Jean" <jm@chu.fr>', "Martin, Jean <jm@chu.fr>"),
        ('"a \\"b\\"" <x@y>', 'a "b" <x@y>'),
        ("=?utf-8?q?H=C3=A9l=C3=A8ne?= <h@x.fr>", "Hélène <h@x.fr>"),
        ("equipe: a@x.fr, b@x.fr;", "equipe: a@x.fr, b@x.fr;"),
        ("(unclosed comment <a@b>", "unclosed comment <a@b>"),
        ("a@b (x (nested) y) (z", "a@b x (nested) y z"),
    ],
)
def test_address_text(value: str, expected: str) -> None:
    assert t.address_text(value) == expected


def test_field_text_unfolds_and_decodes() -> None:
    assert t.field_text("subject", b" =?iso-8859-1?q?R=E9sultat?=\r\n de\r\n\tbio ") == (
        "Résultat de\tbio"
    )
    assert t.field_text("subject", "Été".encode()) == "Été"  # RFC 6532 UTF-8 header
    assert t.field_text("subject", b"=?bogus?q?x?=") == "=?bogus?q?x?="  # left as is
    assert t.field_text("from", b"a (b)@ c.d") == "a@c.d b"


def test_header_matches_and_existence() -> None:
    header = b"Subject: Compte rendu\r\nX-Vide:\r\nFrom: <a (x)@ b.fr>\r\n\r\n"
    assert t.header_matches(header, "SUBJECT", t.fold("RENDU"))
    assert t.header_matches(header, "x-vide", "")
    assert not t.header_matches(header, "x-absent", "")
    assert t.header_matches(header, "from", "a@b.fr")
    assert not t.header_matches(header, "subject", "absent")


@pytest.mark.parametrize(
    ("value", "day"),
    [
        (b" Sun, 25 Mar 2007 00:30:00 +0200", date(2007, 3, 25)),
        (b"25 Mar 2007 23:59:59 -1100", date(2007, 3, 25)),
        (b"Mon, 1 jan 07 08:00 GMT", date(2007, 1, 1)),
        (b"Thu, 1 Jan 98 08:00 GMT", date(1998, 1, 1)),
        (b"Tue, 31 Feb 2007 08:00 GMT", None),
        (b"garbage", None),
        (b"", None),
    ],
)
def test_parse_sent_date_keeps_the_written_day(value: bytes, day: date | None) -> None:
    assert t.parse_sent_date(value) == day


def test_sent_date_reads_the_first_date_field() -> None:
    header = b"Subject: x\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\n\r\n"
    assert t.sent_date(header) == date(2007, 3, 24)
    assert t.sent_date(b"Subject: x\r\n\r\n") is None


def test_body_text_decodes_parts() -> None:
    encoded = base64.encodebytes("fracture du scaphoïde".encode()).decode()
    message = (
        'Subject: s\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
        "--b\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>pl=E2tr=\r\ne</p>\r\n"
        "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "JVBERi0xLjQKc2VjcmV0\r\n--b--\r\n"
    ).encode()
    body = t.body_text(message, with_headers=False)
    assert t.fold("fracture du scaphoïde") in body
    assert t.fold("plâtre") in body
    assert "%pdf" not in body  # not a text part
    assert "multipart" not in body
    text = t.body_text(message, with_headers=True)
    assert "multipart/mixed" in text
    assert "application/pdf" in text


def test_body_text_of_a_message_without_mime() -> None:
    assert t.body_text(b"Subject: s\r\n\r\nTexte SIMPLE\r\n", with_headers=False) == (
        "texte simple\r\n"
    )
    unknown = b"Subject: s\r\nContent-Type: text/plain; charset=bogus\r\n\r\nok"
    assert t.body_text(unknown, with_headers=False) == "ok"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_address_text_never_raises(value: str) -> None:
    assert isinstance(t.address_text(value), str)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_header_and_body_text_never_raise(data: bytes) -> None:
    assert isinstance(t.header_text(data), str)
    assert isinstance(t.body_text(data, with_headers=True), str)
    t.sent_date(data)


def test_surely_absent_only_when_decoding_cannot_reveal_the_needle() -> None:
    plain = b"Subject: s\r\n\r\nTexte simple\r\n"
    assert t.surely_absent(plain, "absent")
    assert not t.surely_absent(plain, "texte")
    encoded = b"Content-Transfer-Encoding: BASE64\r\n\r\nVGV4dGU=\r\n"
    assert not t.surely_absent(encoded, "absent")
    assert not t.surely_absent(b"Subject: =?utf-8?q?x?=\r\n\r\n", "absent")
    assert not t.surely_absent(b"Content-Type: text/plain; charset=UTF-7\r\n\r\n+AGE-", "a")
    assert not t.surely_absent(b"Content-Type: text/plain; charset*=cp037''x\r\n\r\n", "a")
    assert t.surely_absent(b"Content-Type: text/plain; charset=ISO-8859-15\r\n\r\nx", "zz")
    assert not t.surely_absent("Subject: é\r\n\r\n".encode(), "absent")
    assert not t.surely_absent(b"Subject: a\r\n b\r\n\r\n", "a b")
    assert not t.surely_absent(plain, "été")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.text(alphabet="abAB =?:()@\r\n", min_size=1, max_size=6))
def test_surely_absent_never_hides_a_match(data: bytes, needle: str) -> None:
    folded = t.fold(needle)
    if t.surely_absent(data, folded):
        assert folded not in t.body_text(data, with_headers=True)


def test_header_surely_absent() -> None:
    plain = b"From: Jean Martin <jean@chu.fr>\r\nSubject: Compte rendu\r\n\r\n"
    assert t.header_surely_absent(plain, "absent")
    assert not t.header_surely_absent(plain, "compte rendu")
    assert not t.header_surely_absent(plain, "")  # existence
    assert not t.header_surely_absent(b"From: <a (x)@ b.fr>\r\n\r\n", "a@b.fr")
    assert not t.header_surely_absent(b"From: Jean  Martin <j@x>\r\n\r\n", "jean martin")
    assert not t.header_surely_absent(b"Subject: a\r\n b\r\n\r\n", "a b")
    assert not t.header_surely_absent(b"Subject: =?utf-8?q?x?=\r\n\r\n", "absent")


_HEADER_PIECES = st.sampled_from(
    ["From: ", "Subject: ", "\r\n", "\r\n ", " ", "\t", "a", "B", "@", "(", ")", '"', "=?", "?="]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_HEADER_PIECES, max_size=25).map("".join), st.text(alphabet="aB @", max_size=4))
def test_header_surely_absent_never_hides_a_match(text: str, needle: str) -> None:
    header = text.encode()
    folded = t.fold(needle)
    if t.header_surely_absent(header, folded):
        for name in ("from", "subject"):
            assert not t.header_matches(header, name, folded)


def test_raw_8bit_text_that_is_not_utf8_reads_as_latin1() -> None:
    assert t.field_text("subject", "Résultat".encode("latin-1")) == "Résultat"
    body = "Subject: s\r\n\r\nplâtre".encode("latin-1")
    assert t.fold("plâtre") in t.body_text(body, with_headers=False)
