"""BODYSTRUCTURE, ENVELOPE and body sections: the corners strict clients and test suites check
(RFC 3501 §6.4.5, §7.4.2; RFC 2045 §5.2; RFC 2046 §5.1.5; RFC 5322 §2.2.3; issue 3)."""

from __future__ import annotations

from mss.wire.imap.fetch import Section
from mss.wire.imap.response import render_value
from mss.wire.imap.sections import header_fields, section_bytes, split_multipart
from mss.wire.imap.structure import bodystructure, envelope

FOLDED_BOUNDARY = (
    b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="foo\r\n bar"\r\n\r\n'
    b"--foo bar\r\nContent-Type: text/x-myown\r\n\r\nhello\r\n\r\n--foo bar--\r\n"
)

DIGEST = (
    b"From: user@domain.org\r\nContent-Type: message/rfc822\r\n\r\n"
    b'From: sub@domain.org\r\nSubject: submsg\r\nContent-Type: multipart/digest; boundary="d"\r\n'
    b"\r\nprologue\r\n\r\n--d \r\n\r\nFrom: m1@example.com\r\nSubject: m1\r\n\r\nm1 body\r\n\r\n"
    b"--d \r\nX-Mime: m2 header\r\n\r\nFrom: m2@example.com\r\n\r\nm2 body\r\n\r\n--d--\r\n"
)


def test_folded_boundary_is_unfolded() -> None:
    # RFC 5322 §2.2.3: the boundary is "foo bar"; the part is text with the default charset.
    assert render_value(bodystructure(FOLDED_BOUNDARY, extended=False)) == (
        b'(("TEXT" "X-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1) "MIXED")'
    )
    assert render_value(bodystructure(FOLDED_BOUNDARY)).endswith(
        b'"MIXED" ("BOUNDARY" "foo bar") NIL NIL NIL)'
    )
    assert section_bytes(FOLDED_BOUNDARY, Section((1,))) == b"hello\r\n"
    assert section_bytes(FOLDED_BOUNDARY, Section((1,), "MIME")) == (
        b"Content-Type: text/x-myown\r\n\r\n"
    )


def test_default_charset_joins_other_parameters() -> None:
    message = b"Content-Type: text/plain; format=flowed\r\n\r\nx\r\n"
    structure = bodystructure(message, extended=False)
    assert isinstance(structure, tuple)
    assert structure[2] == ("CHARSET", "us-ascii", "FORMAT", "flowed")
    given = b"Content-Type: text/plain; charset=UTF-8\r\n\r\nx\r\n"
    structure = bodystructure(given, extended=False)
    assert isinstance(structure, tuple)
    assert structure[2] == ("CHARSET", "UTF-8")


def test_digest_parts_default_to_message_rfc822() -> None:
    # RFC 2046 §5.1.5
    assert section_bytes(DIGEST, Section((1, 1), "MIME")) == b"\r\n"
    assert section_bytes(DIGEST, Section((1, 1), "HEADER")) == (
        b"From: m1@example.com\r\nSubject: m1\r\n\r\n"
    )
    assert section_bytes(DIGEST, Section((1, 1), "TEXT")) == b"m1 body\r\n"
    assert section_bytes(DIGEST, Section((1, 2), "MIME")) == b"X-Mime: m2 header\r\n\r\n"
    assert section_bytes(DIGEST, Section((1, 2))) == b"From: m2@example.com\r\n\r\nm2 body\r\n"
    rendered = render_value(bodystructure(DIGEST, extended=False))
    assert rendered.count(b'("MESSAGE" "RFC822"') == 3
    assert b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 9 1) 4)' in rendered


def test_message_rfc822_twice_nested() -> None:
    inner = b"From: sub@domain.org\r\nSubject: submsg\r\n\r\nHello world\r\n"
    middle = b"From: user2@domain.org\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    outer = b"From: user@domain.org\r\nContent-Type: message/rfc822\r\n\r\n" + middle
    assert section_bytes(outer, Section((1,))) == middle
    assert section_bytes(outer, Section((1, 1))) == inner
    assert section_bytes(outer, Section((1, 1, 1))) == b"Hello world\r\n"
    assert section_bytes(outer, Section((1,), "HEADER")) == middle[: middle.index(b"\r\n\r\n") + 4]
    assert section_bytes(outer, Section((1, 1), "TEXT")) == b"Hello world\r\n"
    structure = bodystructure(outer, extended=False)
    assert isinstance(structure, tuple)
    assert structure[:7] == ("MESSAGE", "RFC822", None, None, None, "7BIT", len(middle))
    assert structure[-1] == 7  # lines of the encapsulated message


def test_header_fields_do_not_repeat_the_blank_line() -> None:
    header = b"From: a@b.c\r\nSubject: s\r\n\r\n"
    assert header_fields(header, ("From",), exclude=True) == b"Subject: s\r\n\r\n"
    assert header_fields(header, ("Subject",), exclude=False) == b"Subject: s\r\n\r\n"
    assert header_fields(header, ("X-None",), exclude=False) == b"\r\n"


def test_extension_data_of_a_part_and_of_the_multipart() -> None:
    message = (
        b'Content-Type: multipart/mixed; boundary=b; foo="Bar"\r\n'
        b"Content-Language: fr, en\r\nContent-Location: http://x/y\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\nContent-MD5: abc=\r\n"
        b'Content-Disposition: inline; filename="a b.txt"\r\nContent-Language: fr\r\n'
        b"Content-Location: part.txt\r\n\r\nhello\r\nworld\r\n--b--\r\n"
    )
    assert render_value(bodystructure(message)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 12 2 "abc="'
        b' ("INLINE" ("FILENAME" "a b.txt")) ("fr") "part.txt")'
        b' "MIXED" ("BOUNDARY" "b" "FOO" "Bar") NIL ("fr" "en") "http://x/y")'
    )


def test_envelope_defaults_and_empty_fields() -> None:
    # RFC 3501 §7.4.2: an empty Sender or Reply-To defaults to From; absent fields are NIL.
    message = b"From: user@domain (Real Name)\r\nSender: \r\nReply-To:\r\nSubject: \r\n\r\nx"
    assert render_value(envelope(message)) == (
        b'(NIL "" (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain"))'
        b' (("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL)'
    )


def test_encoded_words_and_quotes_stay_as_sent() -> None:
    message = b'Subject: =?utf-8?q?caf=C3=A9?= "q" \\x\r\n\r\n'
    env = envelope(message)
    assert isinstance(env, tuple)
    assert render_value(env[1]) == b'"=?utf-8?q?caf=C3=A9?= \\"q\\" \\\\x"'


def test_utf8_parameters_and_fields_are_kept() -> None:
    # RFC 6532: UTF-8 in MIME fields goes out as sent (a literal), not as U+FFFD.
    message = (
        b'Content-Type: text/plain; name="caf\xc3\xa9.txt"\r\n'
        b"Content-Disposition: attachment; filename=\xc3\xa9\r\nContent-Description: d\xc3\xa9\r\n"
        b"\r\nbody"
    )
    assert render_value(bodystructure(message)) == (
        b'("TEXT" "PLAIN" ("CHARSET" "us-ascii" "NAME" {9}\r\ncaf\xc3\xa9.txt) NIL {3}\r\nd\xc3\xa9'
        b' "7BIT" 4 1 NIL ("ATTACHMENT" ("FILENAME" {2}\r\n\xc3\xa9)) NIL NIL)'
    )


def test_a_multipart_without_parts_still_holds_one() -> None:
    # RFC 3501 body-type-mpart is 1*body: an empty text part stands in.
    message = b"Content-Type: multipart/mixed; boundary=nowhere\r\n\r\nno delimiter at all\r\n"
    assert render_value(bodystructure(message, extended=False)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0) "MIXED")'
    )
    no_boundary = b"Content-Type: multipart/mixed\r\n\r\nx\r\n"
    assert render_value(bodystructure(no_boundary)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "MIXED"'
        b" NIL NIL NIL NIL)"
    )


def test_eight_bit_boundaries_never_break_the_structure() -> None:
    for boundary in (b"caf\xc3\xa9", b"\xff\xfe"):
        message = (
            b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n--%s\r\n\r\nx\r\n--%s--\r\n'
            % (boundary, boundary, boundary)
        )
        rendered = render_value(bodystructure(message))
        assert rendered.startswith(b'(("TEXT" "PLAIN"')
    utf8 = b'Content-Type: multipart/mixed; boundary="caf\xc3\xa9"\r\n\r\n'
    utf8 += b"--caf\xc3\xa9\r\n\r\nx\r\n"
    assert section_bytes(utf8, Section((1,))) == b"x\r\n"


def test_delimiter_lines() -> None:
    # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it; an empty part is a part;
    # transport padding after the boundary is allowed; "--bx" is no delimiter of "b".
    body = b"pre\r\n--b\r\n--b \t\r\nx\r\n--bx\r\n\r\n--b--\r\nepilogue"
    assert split_multipart(body, b"b") == [b"", b"x\r\n--bx\r\n"]
    assert split_multipart(b"--b\nlf only\n--b--\n", b"b") == [b"lf only"]
    assert split_multipart(b"--b\r\nunterminated", b"b") == [b"unterminated"]
    assert split_multipart(b"no delimiter", b"b") == []


def test_rfc2231_parameters_are_decoded_with_their_charset() -> None:
    message = (
        b'Content-Type: application/pdf; name*0="compte "; name*1="rendu.pdf"\r\n'
        b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sultat.pdf\r\n\r\nx"
    )
    assert render_value(bodystructure(message)) == (
        b'("APPLICATION" "PDF" ("NAME" "compte rendu.pdf") NIL NIL "7BIT" 1 NIL'
        b' ("ATTACHMENT" ("FILENAME" {13}\r\nr\xc3\xa9sultat.pdf)) NIL NIL)'
    )
