"""Reading header fields without changing the message (MSS-MSG-1), bare line endings
(MSS-MSG-5) and our ``Received:`` field."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.headers import (
    addresses,
    decode_encoded_words,
    fold_field,
    has_bare_line_ending,
    header_values,
    received_header,
    split_message,
)

MESSAGE = (
    b"Received: from a.example by b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: =?utf-8?q?J=C3=A9r=C3=B4me_Dupont?= <Jerome.Dupont@Hopital.EXAMPLE.fr>\r\n"
    b"Reply-To: secretariat@Cabinet.example.fr\r\n"
    b"To: patient@patient.mssante.fr\r\n"
    b"Subject: =?iso-8859-1?q?R=E9sultats?=\r\n"
    b"  =?utf-8?b?IGQnYW5hbHlzZQ==?= du jour\r\n"
    b"X-MSS-MES: FIN\r\n"
    b"x-mss-codecda: 11502-2,\r\n"
    b"\t34133-9\r\n"
    b"Disposition-Notification-To: <Jerome.Dupont@Hopital.EXAMPLE.fr>\r\n"
    b"\r\n"
    b"Body line\r\n"
    b"From: not-a-header@example.fr\r\n"
)


# --- split_message -------------------------------------------------------------------------


def test_split_message_crlf() -> None:
    header, body = split_message(MESSAGE)
    assert header.endswith(b"\r\n\r\n")
    assert body == b"Body line\r\nFrom: not-a-header@example.fr\r\n"
    assert header + body == MESSAGE


@pytest.mark.parametrize(
    ("raw", "header", "body"),
    [
        (b"A: b\n\nbody", b"A: b\n\n", b"body"),
        (b"A: b\r\n\nbody", b"A: b\r\n\n", b"body"),
        (b"A: b\r\nC: d", b"A: b\r\nC: d", b""),  # no blank line: all header
        (b"\r\nbody", b"\r\n", b"body"),  # empty header block
        (b"\nbody", b"\n", b"body"),
        (b"", b"", b""),
        (b"A: b\r\n\r\n", b"A: b\r\n\r\n", b""),
    ],
)
def test_split_message_cases(raw: bytes, header: bytes, body: bytes) -> None:
    assert split_message(raw) == (header, body)


@given(st.binary())
def test_split_message_any_bytes_keeps_every_byte(raw: bytes) -> None:
    """MSS-MSG-1: splitting never changes the message."""
    header, body = split_message(raw)
    assert header + body == raw


# --- header_values -------------------------------------------------------------------------


def test_header_values_decodes_and_unfolds() -> None:
    assert header_values(MESSAGE, "subject") == ["Résultats d'analyse du jour"]
    assert header_values(MESSAGE, "X-MSS-CODECDA") == ["11502-2,\t34133-9"]
    assert header_values(MESSAGE, "From") == ["Jérôme Dupont <Jerome.Dupont@Hopital.EXAMPLE.fr>"]


def test_header_values_reads_only_the_header_block() -> None:
    assert header_values(MESSAGE, "FROM") == header_values(MESSAGE, "from")
    assert len(header_values(MESSAGE, "from")) == 1
    assert header_values(MESSAGE, "X-Absent") == []


def test_header_values_keeps_every_occurrence_in_order() -> None:
    raw = b"Received: one\r\nX: y\r\nreceived: two\r\n\r\n"
    assert header_values(raw, "Received") == ["one", "two"]


def test_header_values_mss_headers_read_as_sent() -> None:
    """MSS-MSG-1, MSS-PAT-3: the X-MSS-* fields are read, the message is untouched."""
    before = bytes(MESSAGE)
    assert header_values(MESSAGE, "X-MSS-MES") == ["FIN"]
    assert before == MESSAGE


def test_header_values_without_decoding() -> None:
    raw = b"From: =?utf-8?q?a=40evil.example?= <good@example.fr>\r\n\r\n"
    assert header_values(raw, "From", decode_words=False) == [
        "=?utf-8?q?a=40evil.example?= <good@example.fr>"
    ]
    assert header_values(raw, "From") == ["a@evil.example <good@example.fr>"]


def test_header_values_tolerates_garbage_lines() -> None:
    raw = b" leading continuation\r\nno colon here\r\nBad Name: x\r\n\tcont\r\nGood: yes\r\n\r\n"
    assert header_values(raw, "Good") == ["yes"]
    assert header_values(raw, "Bad Name") == []


def test_header_values_latin1_bytes_do_not_raise() -> None:
    assert header_values(b"Subject: caf\xe9\r\n\r\n", "Subject") == ["caf\ufffd"]
    assert header_values("Subject: café\r\n\r\n".encode(), "Subject") == ["café"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 §6.2: space between words dropped
        ("=?utf-8?q?a?=  x  =?utf-8?q?b?=", "a  x  b"),
        ("=?UTF-8?B?w6k=?=", "é"),
        ("=?utf-8?b?w6k?=", "é"),  # missing padding
        ("=?utf-8*fr?q?=C3=A9?=", "é"),  # RFC 2231 language
        ("=?x-unknown?q?abc?=", "=?x-unknown?q?abc?="),
        ("=?rot13?q?abc?=", "=?rot13?q?abc?="),  # not a text encoding
        ("=?base64?q?abc?=", "=?base64?q?abc?="),
        ("=?utf-8?b?a?=", "=?utf-8?b?a?="),  # impossible base64 length
        ("=?utf-8?q?=FF?=", "\ufffd"),
        ("plain text", "plain text"),
    ],
)
def test_decode_encoded_words(text: str, expected: str) -> None:
    assert decode_encoded_words(text) == expected


@given(st.binary(), st.sampled_from(["Subject", "From", "x-mss-mes", "", " ", "é"]))
def test_header_values_any_bytes_never_raises(raw: bytes, name: str) -> None:
    values = header_values(raw, name)
    assert all(isinstance(value, str) for value in values)


_HEADERISH = st.lists(
    st.sampled_from(
        [
            *(b"Subject", b":", b" ", b"\t", b"\r\n", b"\n", b"\r", b"=?", b"?=", b"?q?", b"?B?"),
            *(b"utf-8", b"rot13", b"idna", b"punycode", b"utf-7", b"=E9", b"\xff", b"w6k=", b"_"),
        ]
    )
).map(b"".join)


@given(_HEADERISH)
def test_header_values_encoded_word_soup_never_raises(raw: bytes) -> None:
    header_values(raw, "Subject")


@given(st.text())
def test_decode_encoded_words_any_text_never_raises(text: str) -> None:
    assert isinstance(decode_encoded_words(text), str)


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jérôme Dupont <Jerome.Dupont@Hopital.EXAMPLE.fr>", ["Jerome.Dupont@hopital.example.fr"]),
        ('a@B.fr, "Doe, J" <j@C.FR>', ["a@b.fr", "j@c.fr"]),
        ("<a@b.fr> (comment, with comma)", ["a@b.fr"]),
        ("group: a@b.fr, c@d.fr;", ["a@b.fr", "c@d.fr"]),
        ('"john doe"@example.FR', ['"john doe"@example.fr']),
        ("a@b.fr,", ["a@b.fr"]),
        ("", []),
        ("garbage", []),
        ("undisclosed-recipients:;", []),
        ("a@b@c", []),
        ("<>", []),
        ("<a@b.fr", []),
        ("alice@example.org)<bob@example.org>", []),
    ],
)
def test_addresses(value: str, expected: list[str]) -> None:
    assert addresses(value) == expected


def test_addresses_refuses_an_address_hidden_in_the_display_name() -> None:
    """MSS-PAT-2: a display name shaped like an address must not grant that address."""
    assert addresses("evil@attacker.example <real@example.fr>") == []
    assert addresses("=?utf-8?q?evil=40attacker.example?= <real@example.fr>") == ["real@example.fr"]


@given(st.text())
def test_addresses_any_text_gives_a_list(value: str) -> None:
    result = addresses(value)
    assert all("@" in address for address in result)


@given(st.text(alphabet='abc@.,;:<>()"\\ é\t', max_size=40))
def test_addresses_punctuation_soup_gives_a_list(value: str) -> None:
    for address in addresses(value):
        assert address.rpartition("@")[0]


# --- has_bare_line_ending (MSS-MSG-5) ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "bare"),
    [
        (b"", False),
        (b"a\r\nb\r\n", False),
        (b"\r\n\r\n", False),
        (b"a\nb", True),
        (b"a\rb", True),
        (b"a\r\r\nb", True),
        (b"a\r\n\nb", True),
        (b"a\n\r", True),
        (b"\r", True),
        (b"\n", True),
    ],
)
def test_has_bare_line_ending(data: bytes, bare: bool) -> None:
    """MSS-MSG-5: a CR or LF outside a CRLF pair is a bare line ending."""
    assert has_bare_line_ending(data) is bare


@given(st.binary())
def test_has_bare_line_ending_matches_the_definition(data: bytes) -> None:
    """MSS-MSG-5 against a slow, obvious reference."""
    expected = re.search(rb"(?<!\r)\n|\r(?!\n)", data) is not None
    assert has_bare_line_ending(data) is expected


def test_has_bare_line_ending_is_fast_on_50_mb() -> None:
    """MSS-MSG-5: checked on every DATA; 50 MB must not take a Python loop per byte."""
    data = b"x" * 998 + b"\r\n"
    big = data * (50 * 1024 * 1024 // len(data))
    start = time.perf_counter()
    assert has_bare_line_ending(big) is False
    assert has_bare_line_ending(big + b"\n") is True
    assert time.perf_counter() - start < 2.0


# --- fold_field and received_header --------------------------------------------------------

NOW = datetime(2025, 3, 13, 9, 30, 0, tzinfo=UTC)


def _lines(field: bytes) -> list[bytes]:
    assert field.endswith(b"\r\n")
    return field[:-2].split(b"\r\n")


def test_fold_field_folds_at_spaces() -> None:
    field = fold_field("Subject", " ".join(["word"] * 40))
    lines = _lines(field)
    assert len(lines) > 1
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])
    assert b"".join(lines) == b"Subject: " + b" ".join([b"word"] * 40)  # unfolding restores


def test_received_header_shape() -> None:
    field = received_header(
        from_helo="client.example.fr",
        peer_ip="192.0.2.10",
        by_host="mx.mss.example.fr",
        with_protocol="ESMTPS",
        tls="TLSv1.3 TLS_AES_256_GCM_SHA384",
        queue_id="Q1A2B3",
        recipient="bob@example.fr",
        now=NOW,
    )
    unfolded = field.replace(b"\r\n ", b" ").decode()
    assert unfolded == (
        "Received: from client.example.fr ([192.0.2.10]) by mx.mss.example.fr with ESMTPS"
        " (TLSv1.3 TLS_AES_256_GCM_SHA384) id Q1A2B3 for <bob@example.fr>;"
        " Thu, 13 Mar 2025 09:30:00 +0000\r\n"
    )
    assert all(len(line) <= 78 for line in _lines(field))


def test_received_header_ipv6_and_no_tls_no_recipient() -> None:
    field = received_header(
        from_helo="[IPv6:2001:db8::5]",
        peer_ip="2001:db8::5",
        by_host="mx",
        with_protocol="ESMTP",
        tls=None,
        queue_id="Q",
        recipient=None,
        now=NOW.astimezone(timezone(timedelta(hours=1))),
    )
    unfolded = field.replace(b"\r\n ", b" ").decode()
    assert "([IPv6:2001:db8::5])" in unfolded
    assert " for " not in unfolded
    assert "(TLS" not in unfolded
    assert unfolded.endswith("+0100\r\n")


def _received(
    *,
    from_helo: str = "h",
    peer_ip: str = "192.0.2.1",
    with_protocol: str = "ESMTP",
    tls: str | None = None,
    queue_id: str = "Q",
    recipient: str | None = None,
) -> bytes:
    return received_header(
        from_helo=from_helo,
        peer_ip=peer_ip,
        by_host="mx.example.fr",
        with_protocol=with_protocol,
        tls=tls,
        queue_id=queue_id,
        recipient=recipient,
        now=NOW,
    )


def _assert_one_safe_field(field: bytes) -> None:
    lines = _lines(field)
    assert lines[0].startswith(b"Received: from")
    assert all(line.startswith(b" ") for line in lines[1:])
    assert b"\r" not in b"".join(lines)
    assert b"\n" not in b"".join(lines)
    assert field.count(b";") == 1


def test_received_header_mapped_ipv4_and_bad_ip() -> None:
    assert b"([192.0.2.1])" in _received(peer_ip="::ffff:192.0.2.1")
    assert b"(unknown)" in _received(peer_ip="not an ip")


@pytest.mark.parametrize(
    "helo",
    [
        "evil\r\nX-Injected: yes",
        "evil\nBcc: victim@example.fr",
        "a" * 500,
        "host (comment) ; for <x@y>",
        "\x00\x1b[31mred",
        "",
    ],
)
def test_received_header_helo_cannot_inject(helo: str) -> None:
    """A client's HELO never adds a field, a line or a clause to our Received field."""
    field = _received(from_helo=helo)
    _assert_one_safe_field(field)
    assert all(len(line) <= 78 for line in _lines(field))
    assert field.count(b"(") == 1
    helo_word = field.replace(b"\r\n ", b" ").split(b" ")[2]
    assert re.fullmatch(rb"[A-Za-z0-9.\-\[\]:]{1,64}", helo_word)


def test_received_header_recipient_and_tls_cannot_inject() -> None:
    field = _received(
        tls="TLSv1.3\r\nX: y",
        queue_id="Q\r\nX: y",
        recipient="bob@example.fr>\r\nX-Injected: yes; (",
    )
    _assert_one_safe_field(field)
    unfolded = field.replace(b"\r\n ", b" ")
    assert b"for <bob@example.frX-Injected:yes>;" in unfolded
    assert b"id QXy " in unfolded


def test_received_header_non_ascii_recipient_only_under_smtputf8() -> None:
    """RFC 6531 §4.4: a UTF-8 ``for`` clause only with the UTF8 protocol names."""
    plain = _received(with_protocol="ESMTPS", recipient="jé@x.fr")
    assert b" for " not in plain.replace(b"\r\n ", b" ")
    utf8 = _received(with_protocol="UTF8SMTPS", recipient="jé@x.fr")
    assert "for <jé@x.fr>;".encode() in utf8.replace(b"\r\n ", b" ")


def test_received_header_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone"):
        received_header(
            from_helo="h",
            peer_ip="192.0.2.1",
            by_host="mx",
            with_protocol="ESMTP",
            tls=None,
            queue_id="Q",
            recipient=None,
            now=datetime(2025, 1, 1),  # noqa: DTZ001 - the point of the test
        )


@given(st.text(), st.text(), st.text(max_size=300), st.text())
def test_received_header_any_client_text_is_one_safe_field(
    helo: str, tls: str, recipient: str, ip: str
) -> None:
    field = _received(
        from_helo=helo, peer_ip=ip, with_protocol="UTF8SMTPS", tls=tls, recipient=recipient
    )
    _assert_one_safe_field(field)
