"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): examples, round trips, invalid input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.errors import WireSyntaxError
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.utf7 import decode_mailbox, encode_mailbox


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("Brouillons", "Brouillons"),
        ("Éléments envoyés", "&AMk-l&AOk-ments envoy&AOk-s"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
        ("Tom & Jerry", "Tom &- Jerry"),
        ("&", "&-"),
        ("", ""),
        ("😀", "&2D3eAA-"),
    ],
)
def test_known_encodings(text: str, encoded: str) -> None:
    assert encode_mailbox(text) == encoded
    assert decode_mailbox(encoded) == text


@pytest.mark.parametrize(
    "bad",
    [
        "&",  # unterminated
        "&AGE",  # unterminated run
        "&AGE-",  # "a" must be sent directly
        "&U,BTFw-&ZeVnLIqe-",  # adjacent runs must be merged
        "&Jjo!-",  # not base64
        "&AOk",  # no '-'
        "&AOl-",  # non-zero padding bits
        "&AA-",  # one byte only
        "&2D0-",  # lone high surrogate
        "caf\u00e9",  # 8-bit character sent raw
        "a\x00b",  # control character
        "&ZeVnLIqe",  # unterminated
        "&A-",  # truncated base64
    ],
)
def test_invalid_utf7_is_the_syntax_error(bad: str) -> None:
    with pytest.raises(ImapSyntaxError):
        decode_mailbox(bad)


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(ImapSyntaxError):
        encode_mailbox("\ud800")


@given(st.text())
def test_round_trip_for_any_text(text: str) -> None:
    encoded = encode_mailbox(text)
    assert encoded.isascii()
    assert all(0x20 <= ord(ch) <= 0x7E for ch in encoded)
    assert decode_mailbox(encoded) == text


@given(st.text())
def test_decode_any_str_gives_a_value_or_the_error(text: str) -> None:
    try:
        decoded = decode_mailbox(text)
    except WireSyntaxError:
        return
    # Whatever decodes is canonical: encoding it again gives the same spelling.
    assert encode_mailbox(decoded) == text


@given(st.text(alphabet="&-ABCDEFGHabcdefgh0123456789+,", max_size=20))
def test_decode_shift_heavy_input(text: str) -> None:
    try:
        decoded = decode_mailbox(text)
    except WireSyntaxError:
        return
    assert encode_mailbox(decoded) == text
