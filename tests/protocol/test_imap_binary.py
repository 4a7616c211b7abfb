"""IMAP BINARY (RFC 3516) and body-section corners (RFC 3501 §6.4.5, §7.4.2), over real TLS.

BINARY[part]<partial>, BINARY.PEEK, BINARY.SIZE (base64, quoted-printable, 7bit/8bit/binary;
unknown encodings refused with ``NO [UNKNOWN-CTE]``), literal8 ``~{n}`` exactly when the decoded
bytes hold a NUL, APPEND of a literal8 stored as sent, BAD for what is no section,
NIL for sections that do not exist, and a 25 MB base64 attachment decoded in chunks.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_compliance_fetch import Client, logged_in
from tests.protocol.test_imap_hostile import status_of


@pytest.fixture
def client(running: RunningOperator) -> Iterator[Client]:
    yield from logged_in(running)


PAYLOAD = bytes(range(256)) * 3  # every octet, NUL included
MIXED = (
    b"From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
    b"caf=C3=A9 =3D ok, a soft=\r\n break\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n")
    + b"--b\r\nContent-Type: text/plain\r\n\r\nplain 7bit\r\n"
    b"--b\r\nContent-Type: application/x-odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 x\r\n--b--\r\n"
)
QP_TEXT = "café = ok, a soft break".encode()


def literal_of(line: bytes) -> tuple[bytes, bytes]:
    """The announcement (``{n}`` or ``~{n}``) and the bytes of the one literal in ``line``."""
    found = re.search(rb"(~?\{(\d+)\}\r\n)", line)
    assert found is not None, line[:200]
    start = found.end()
    return found.group(1), line[start : start + int(found.group(2))]


def test_binary_is_advertised_after_login(client: Client) -> None:
    untagged = client.ok("CAPABILITY")
    assert b" BINARY" in untagged[0].split(b"\r\n")[0]


def test_base64_part_is_decoded_and_sent_as_literal8(client: Client) -> None:
    client.folder(MIXED)
    line = client.fetch_one("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
    assert line.startswith(b"* 1 FETCH (BINARY.SIZE[2] %d BINARY[2] ~{%d}\r\n" % (768, 768))
    assert literal_of(line) == (b"~{768}\r\n", PAYLOAD)
    # RFC 3516 §4.3: a window without NUL is a plain literal; the origin is echoed.
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[2]<1.3>)") == (
        b"* 1 FETCH (BINARY[2]<1> {3}\r\n\x01\x02\x03)\r\n"
    )
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[2]<255.2>)") == (
        b"* 1 FETCH (BINARY[2]<255> ~{2}\r\n\xff\x00)\r\n"
    )
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[2]<100000.10>)") == (
        b"* 1 FETCH (BINARY[2]<100000> {0}\r\n)\r\n"
    )


def test_quoted_printable_and_7bit_parts(client: Client) -> None:
    client.folder(MIXED)
    assert client.fetch_one("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[3])") == (
        b"* 1 FETCH (BINARY.SIZE[1] %d BINARY[1] {%d}\r\n%s BINARY[3] {10}\r\nplain 7bit)\r\n"
        % (len(QP_TEXT), len(QP_TEXT), QP_TEXT)
    )


def test_unknown_transfer_encoding_is_refused(client: Client) -> None:
    client.folder(MIXED)
    for item in ("BINARY.PEEK[4]", "BINARY.SIZE[4]"):
        _, tagged = client.command(f"FETCH 1 ({item})")
        assert re.match(rb"h\d+ NO \[UNKNOWN-CTE\] ", tagged), tagged
    # BODY[4] is the part as stored, whatever its encoding; the server keeps serving.
    assert client.fetch_one("FETCH 1 (BODY.PEEK[4])").endswith(b"{11}\r\nbegin 644 x)\r\n")


# HEADER/TEXT/MIME under BINARY are accepted as Dovecot does (test_imap_binary_imaptest.py).
@pytest.mark.parametrize("section", ["MIME", "1.", "1.BODY", "0", "x"])
def test_binary_takes_sections_only(client: Client, section: str) -> None:
    client.folder(MIXED)
    for item in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        _, tagged = client.command(f"FETCH 1 ({item}[{section}])")
        assert status_of(tagged) == b"BAD", tagged


def test_binary_of_the_whole_message_and_missing_parts(client: Client) -> None:
    client.folder(MIXED)
    line = client.fetch_one("FETCH 1 (BINARY.PEEK[] BINARY.SIZE[])")
    assert literal_of(line) == (b"{%d}\r\n" % len(MIXED), MIXED)
    assert line.endswith(b" BINARY.SIZE[] %d)\r\n" % len(MIXED))
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9] BINARY.PEEK[3.1])") == (
        b"* 1 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0 BINARY[3.1] NIL)\r\n"
    )


def test_binary_sets_seen_and_peek_does_not(client: Client) -> None:
    client.folder(MIXED)
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[3] FLAGS)").endswith(b"FLAGS (\\Recent))\r\n")
    assert client.fetch_one("FETCH 1 (BINARY.SIZE[3] FLAGS)").endswith(b"FLAGS (\\Recent))\r\n")
    line = client.fetch_one("FETCH 1 (BINARY[3])")
    assert line == b"* 1 FETCH (BINARY[3] {10}\r\nplain 7bit FLAGS (\\Seen \\Recent))\r\n"


RAW = (
    b"From: a@example.org\r\nSubject: raw\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="r"\r\n\r\n'
    b"--r\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    b"--r\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    + PAYLOAD
    + b"\r\n--r--\r\n"
)


def _appenduid(tagged: bytes) -> int:
    found = re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged)
    assert found is not None, tagged
    return int(found.group(1))


def test_append_of_a_literal8_is_stored_as_sent(client: Client) -> None:
    name = client.folder()
    # A synchronising literal8: the server asks for it with "+".
    tag = client.tag()
    client.send(tag + b" APPEND " + name.encode() + b" ~{%d}\r\n" % len(RAW))
    assert client.readline().startswith(b"+ ")
    client.send(RAW + b"\r\n")
    _, tagged = client.until_tagged(tag)
    assert _appenduid(tagged) == 1
    # A non-synchronising one (LITERAL+), with flags.
    _, tagged = client.command(
        b"APPEND " + name.encode() + b" (\\Flagged) ~{%d+}\r\n" % len(RAW) + RAW
    )
    assert _appenduid(tagged) == 2
    client.ok(f"SELECT {name}")
    for number in (1, 2):
        line = client.fetch_one(f"FETCH {number} (BINARY.PEEK[] RFC822.SIZE)")
        assert literal_of(line) == (b"~{%d}\r\n" % len(RAW), RAW)
        assert line.endswith(b" RFC822.SIZE %d)\r\n" % len(RAW))
        assert literal_of(client.fetch_one(f"FETCH {number} (BINARY.PEEK[2])")) == (
            b"~{%d}\r\n" % len(PAYLOAD),
            PAYLOAD,
        )
    # BODY[] is a plain literal, which cannot carry NUL (RFC 3501 CHAR8): shown as 0x80.
    announced, body = literal_of(client.fetch_one("FETCH 1 (BODY.PEEK[])"))
    assert announced == b"{%d}\r\n" % len(RAW)
    assert body == RAW.replace(b"\x00", b"\x80")


def test_a_bad_literal8_announcement_is_a_clean_bad(client: Client) -> None:
    name = client.folder()
    for bad in (b"~{x}", b"~~{3}", b"~ {3}"):
        _, tagged = client.command(b"APPEND " + name.encode() + b" " + bad)
        assert status_of(tagged) == b"BAD", tagged
    client.ok("NOOP")


SINGLE = b"From: a@example.org\r\nSubject: one\r\n\r\nthe body\r\n"
SINGLE_HEADER = SINGLE[: SINGLE.index(b"\r\n\r\n") + 4]
CORNERS = [
    # RFC 3501 §6.4.5: a part that is not multipart has a part 1 (its body).
    ("BODY.PEEK[1]", b"BODY[1] {10}\r\nthe body\r\n"),
    ("BODY.PEEK[1.MIME]", b"BODY[1.MIME] {%d}\r\n%s" % (len(SINGLE_HEADER), SINGLE_HEADER)),
    # HEADER/TEXT after a part number are those of a MESSAGE/RFC822 part: NIL otherwise.
    ("BODY.PEEK[1.HEADER]", b"BODY[1.HEADER] NIL"),
    ("BODY.PEEK[1.TEXT]", b"BODY[1.TEXT] NIL"),
    ("BODY.PEEK[1.HEADER.FIELDS (Subject)]", b"BODY[1.HEADER.FIELDS (Subject)] NIL"),
    # No such part: NIL (nstring, §7.4.2), partial origin still echoed.
    ("BODY.PEEK[2]", b"BODY[2] NIL"),
    ("BODY.PEEK[99]", b"BODY[99] NIL"),
    ("BODY.PEEK[1.1]", b"BODY[1.1] NIL"),
    ("BODY.PEEK[99]<0.10>", b"BODY[99]<0> NIL"),
    ("BODY.PEEK[2.MIME]", b"BODY[2.MIME] NIL"),
    # A partial past the end is an empty string; the origin is echoed, the length is not.
    ("BODY.PEEK[TEXT]<100000.10>", b"BODY[TEXT]<100000> {0}\r\n"),
    ("BODY.PEEK[1]<4.100>", b"BODY[1]<4> {6}\r\nbody\r\n"),
    ("BODY.PEEK[]<0.4>", b"BODY[]<0> {4}\r\nFrom"),
]


@pytest.mark.parametrize(("item", "expected"), CORNERS, ids=[c[0] for c in CORNERS])
def test_section_corners_of_a_single_part_message(
    client: Client, item: str, expected: bytes
) -> None:
    client.folder(SINGLE)
    assert client.fetch_one(f"FETCH 1 ({item})") == b"* 1 FETCH (" + expected + b")\r\n"


def test_header_of_a_text_part_of_a_multipart_is_nil(client: Client) -> None:
    client.folder(MIXED)
    assert client.fetch_one("FETCH 1 (BODY.PEEK[1.HEADER] BODY.PEEK[3.TEXT])") == (
        b"* 1 FETCH (BODY[1.HEADER] NIL BODY[3.TEXT] NIL)\r\n"
    )


ATTACHMENT_SIZE = 25 * 1024 * 1024


@pytest.mark.slow
def test_a_25_mb_base64_attachment(client: Client) -> None:
    payload = bytes(range(256)) * (ATTACHMENT_SIZE // 256)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    message = (
        b'Subject: big\r\nContent-Type: multipart/mixed; boundary="z"\r\n\r\n'
        b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--z\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + encoded
        + b"--z--\r\n"
    )
    client.folder(message)
    assert client.fetch_one("FETCH 1 (BINARY.SIZE[2])") == (
        b"* 1 FETCH (BINARY.SIZE[2] %d)\r\n" % ATTACHMENT_SIZE
    )
    middle = ATTACHMENT_SIZE // 2 + 7
    assert client.fetch_one(f"FETCH 1 (BINARY.PEEK[2]<{middle}.5>)") == (
        b"* 1 FETCH (BINARY[2]<%d> {5}\r\n%s)\r\n" % (middle, payload[middle : middle + 5])
    )
    announced, data = literal_of(client.fetch_one("FETCH 1 (BINARY.PEEK[2])"))
    assert announced == b"~{%d}\r\n" % ATTACHMENT_SIZE
    assert binascii.crc32(data) == binascii.crc32(payload)
    assert data == payload


def test_a_literal8_with_nul_in_the_header_is_stored_and_searchable(client: Client) -> None:
    name = client.folder()
    message = b"From: a@example.org\r\nSubject: n\x00l\r\n\r\nbody \x00 with nul\r\n"
    _, tagged = client.command(b"APPEND " + name.encode() + b" ~{%d+}\r\n" % len(message) + message)
    assert _appenduid(tagged) == 1
    client.ok(f"SELECT {name}")
    assert literal_of(client.fetch_one("FETCH 1 (BINARY.PEEK[])")) == (
        b"~{%d}\r\n" % len(message),
        message,
    )
    untagged = client.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER])")
    assert b"\x00" not in b"".join(untagged)
    assert client.ok("SEARCH BODY with") == [b"* SEARCH 1\r\n"]
