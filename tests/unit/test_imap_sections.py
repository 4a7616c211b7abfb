"""BODY[section] and BINARY[] extraction from raw messages (RFC 3501 §6.4.5, RFC 3516)."""

from __future__ import annotations

import pytest

from mss.wire.imap.fetch import Section
from mss.wire.imap.sections import (
    UnknownEncodingError,
    binary_bytes,
    field_values,
    find_part,
    header_fields,
    section_bytes,
)

INNER = b"From: c@example.org\r\nSubject: inner\r\n\r\ninner body\r\n"


def _present(message: bytes, section: Section) -> bytes:
    """``section_bytes`` of a section that exists (``None`` is NIL)."""
    data = section_bytes(message, section)
    assert data is not None
    return data


MESSAGE = (
    b"From: a@example.org\r\nSubject: =?utf-8?q?R=C3=A9sultat?=\r\n Suite\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"\r\n"
    b"--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0=\r\n--b1--\r\nepilogue\r\n"
)


def test_whole_header_text_and_fields() -> None:
    assert _present(MESSAGE, Section()) == MESSAGE
    header = _present(MESSAGE, Section(text="HEADER"))
    assert header.endswith(b"\r\n\r\n")
    assert MESSAGE.startswith(header)
    assert _present(MESSAGE, Section(text="TEXT")) == MESSAGE[len(header) :]
    fields = _present(MESSAGE, Section(text="HEADER.FIELDS", headers=("subject",)))
    assert fields == b"Subject: =?utf-8?q?R=C3=A9sultat?=\r\n Suite\r\n\r\n"
    rest = header_fields(header, ("Subject", "Content-Type"), exclude=True)
    assert rest == b"From: a@example.org\r\n\r\n"


def test_parts_and_nested_message() -> None:
    assert _present(MESSAGE, Section(part=(1,))) == b"first"
    assert _present(MESSAGE, Section(part=(2,))) == INNER
    assert _present(MESSAGE, Section(part=(2,), text="HEADER")).startswith(b"From: c@")
    assert _present(MESSAGE, Section(part=(2,), text="TEXT")) == b"inner body\r\n"
    assert _present(MESSAGE, Section(part=(2, 1))) == b"inner body\r\n"
    assert _present(MESSAGE, Section(part=(3,), text="MIME")).startswith(b"Content-Type: app")
    assert section_bytes(MESSAGE, Section(part=(9,))) is None  # NIL, RFC 3501 §7.4.2
    assert find_part(MESSAGE, (1, 2)) is None


def test_single_part_message_has_part_one() -> None:
    assert _present(INNER, Section(part=(1,))) == b"inner body\r\n"
    assert find_part(INNER, (2,)) is None


def test_binary_decodes_transfer_encoding() -> None:
    assert binary_bytes(MESSAGE, (3,)) == b"%PDF-"
    assert binary_bytes(MESSAGE, (1,)) == b"first"
    odd = MESSAGE.replace(b"base64", b"x-uuencode")
    with pytest.raises(UnknownEncodingError):
        binary_bytes(odd, (3,))


def test_field_values_unfold() -> None:
    header = _present(MESSAGE, Section(text="HEADER"))
    assert field_values(header, "subject") == [b"=?utf-8?q?R=C3=A9sultat?= Suite"]
    assert field_values(header, "to") == []
