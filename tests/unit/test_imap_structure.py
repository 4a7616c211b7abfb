"""ENVELOPE and BODYSTRUCTURE from the MIME structure (RFC 3501 §7.4.2)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mss.wire.imap.response import render_value
from mss.wire.imap.structure import bodystructure, envelope

RFC_MESSAGE = (
    b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
    b"From: Terry Gray <gray@cac.washington.edu>\r\n"
    b"Subject: IMAP4rev1 WG mtg summary and\r\n minutes\r\n"
    b"To: imap@cac.washington.edu\r\n"
    b"cc: minutes@CNRI.Reston.VA.US,\r\n John Klensin <KLENSIN@MIT.EDU>\r\n"
    b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)


def test_envelope_of_the_rfc_example() -> None:
    # RFC 3501 §8, sample FETCH response
    assert render_value(envelope(RFC_MESSAGE)) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes"'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' (("Terry Gray" NIL "gray" "cac.washington.edu"))'
        b' ((NIL NIL "imap" "cac.washington.edu"))'
        b' ((NIL NIL "minutes" "CNRI.Reston.VA.US") ("John Klensin" NIL "KLENSIN" "MIT.EDU"))'
        b' NIL NIL "<B27397-0100000@cac.washington.edu>")'
    )


def test_bodystructure_of_a_single_part() -> None:
    assert render_value(bodystructure(RFC_MESSAGE, extended=False)) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 55 1)'
    )
    assert render_value(bodystructure(RFC_MESSAGE)) == (
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 55 1 NIL NIL NIL NIL)'
    )


def test_empty_headers_give_nil_and_default_type() -> None:
    assert envelope(b"\r\nbody\r\n") == (None,) * 10
    assert bodystructure(b"\r\nbody\r\n", extended=False) == (
        "TEXT",
        "PLAIN",
        ("CHARSET", "us-ascii"),  # RFC 2045 §5.2 default
        None,
        None,
        "7BIT",
        6,
        1,
    )


def test_groups_and_sender_and_reply_to() -> None:
    message = (
        b"From: a@x.fr\r\nSender: s@x.fr\r\nReply-To: r@x.fr\r\n"
        b'To: Team: b@x.fr, "C, D" <c@x.fr>;, e@x.fr\r\n'
        b"Bcc: undisclosed-recipients:;\r\nIn-Reply-To: <p@x.fr>\r\n\r\n"
    )
    env = envelope(message)
    assert isinstance(env, tuple)
    assert env[3] == ((None, None, "s", "x.fr"),)
    assert env[4] == ((None, None, "r", "x.fr"),)
    assert env[5] == (
        (None, None, "Team", None),
        (None, None, "b", "x.fr"),
        ("C, D", None, "c", "x.fr"),
        (None, None, None, None),
        (None, None, "e", "x.fr"),
    )
    assert env[7] == ((None, None, "undisclosed-recipients", None), (None, None, None, None))
    assert env[8] == "<p@x.fr>"


NESTED = (
    b"From: a@b.fr\r\nSubject: outer\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"preamble\r\n--b1\r\n"
    b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n"
    b"--b2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"caf\xc3\xa9\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b2--\r\n"
    b"--b1\r\nContent-Type: application/pdf; name=cr.pdf\r\n"
    b"Content-Disposition: attachment; filename=cr.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-ID: <id1>\r\n"
    b"Content-Language: fr, en\r\n\r\nJVBERi0=\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: c@d.fr\r\nSubject: inner\r\n\r\ninner body\r\n"
    b"--b1--\r\n"
)


def test_nested_multipart_and_message_rfc822() -> None:
    structure = bodystructure(NESTED)
    assert isinstance(structure, tuple)
    alternative, pdf, attached, subtype, params, disposition, language, location = structure
    assert (subtype, params, disposition, language, location) == (
        "MIXED",
        ("BOUNDARY", "b1"),
        None,
        None,
        None,
    )
    assert alternative == (
        ("TEXT", "PLAIN", ("CHARSET", "utf-8"), None, None, "8BIT", 5, 1, None, None, None, None),
        ("TEXT", "HTML", ("CHARSET", "us-ascii"), None, None, "7BIT", 8, 1, None, None, None, None),
        "ALTERNATIVE",
        ("BOUNDARY", "b2"),
        None,
        None,
        None,
    )
    assert pdf == (
        "APPLICATION",
        "PDF",
        ("NAME", "cr.pdf"),
        "<id1>",
        None,
        "BASE64",
        8,
        None,
        ("ATTACHMENT", ("FILENAME", "cr.pdf")),
        ("fr", "en"),
        None,
    )
    assert isinstance(attached, tuple)
    assert attached[:7] == ("MESSAGE", "RFC822", None, None, None, "7BIT", 42)
    inner_envelope, inner_body, lines = attached[7], attached[8], attached[9]
    assert isinstance(inner_envelope, tuple)
    assert inner_envelope[1] == "inner"
    assert inner_body == (
        "TEXT",
        "PLAIN",
        ("CHARSET", "us-ascii"),
        None,
        None,
        "7BIT",
        10,
        1,
        None,
        None,
        None,
        None,
    )
    assert lines == 4


def test_body_without_extension_data_for_multipart() -> None:
    structure = bodystructure(NESTED, extended=False)
    assert isinstance(structure, tuple)
    assert structure[-1] == "MIXED"
    assert len(structure) == 4


def test_deep_nesting_is_bounded() -> None:
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(80)
    )
    structure = bodystructure(head + b"\r\nx\r\n")
    assert isinstance(structure, tuple)


_MIME_NOISE = [
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/plain; charset=\"x\"; name*=utf-8''%C3%A9\r\n",
    b"\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b'From: "a" <b@c>, ;:@<>\r\n',
    b"To: g: ;\r\n",
    b"\xff\xfe",
    b"x\r\n",
    b'Content-Disposition: attachment; filename="a\r\n',
    b"Content-Language: ,,\r\n",
]


@settings(max_examples=300)
@given(st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(_MIME_NOISE)).map(b"".join)))
def test_any_message_bytes_give_a_structure(message: bytes) -> None:
    for value in (
        envelope(message),
        bodystructure(message),
        bodystructure(message, extended=False),
    ):
        rendered = render_value(value)
        assert rendered.startswith(b"(")
        assert rendered.endswith(b")")


def test_eight_bit_headers_are_kept_not_replaced() -> None:
    # RFC 6532 UTF-8 headers stay text; other 8-bit bytes go out raw (as a literal).
    env = envelope(b"Subject: caf\xc3\xa9\r\n  x\r\nMessage-Id: <\xff@x>\r\n\r\n")
    assert isinstance(env, tuple)
    assert env[1] == "café  x"
    assert env[9] == b"<\xff@x>"
    assert render_value(env[9]) == b"{5}\r\n<\xff@x>"
