"""FETCH answered to the letter of RFC 3501 §6.4.5 / §7.4.2 (issue 3: strict third-party
compliance tests), over real TLS against the demo operator, with our own messages.

Checked byte for byte where the RFC is exact: ENVELOPE (NIL vs "", groups, routes, comments as
names, encoded words left encoded), BODYSTRUCTURE (default charset, extension data, nested
message/rfc822, folded boundary), body sections (``n.MIME``, ``n.HEADER`` of message/rfc822,
HEADER.FIELDS), partial fetches and their origin, BINARY (RFC 3516), macros, and the UID of a
message another session expunged. :class:`Client` is shared by the other compliance modules.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_hostile import RawImap, folder_with

DOCTOR = {"rpps": "10001234567"}


class Client(RawImap):
    """RawImap with the few helpers the compliance tests share."""

    def append(self, folder: str, message: bytes, extra: str = "") -> int:
        """APPEND with a non-synchronising literal; the UID from APPENDUID."""
        head = f"APPEND {folder} {extra} ".replace("  ", " ").encode()
        _, tagged = self.command(head + b"{%d+}\r\n" % len(message) + message)
        found = re.search(rb"\[APPENDUID \d+ (\d+)\]", tagged)
        assert found is not None, tagged
        return int(found.group(1))

    def folder(self, *messages: bytes) -> str:
        """A new folder holding ``messages``, selected."""
        name = f"C{uuid.uuid4().hex[:8]}"
        self.ok(f"CREATE {name}")
        for message in messages:
            self.append(name, message)
        self.ok(f"SELECT {name}")
        return name

    def fetch_one(self, text: str) -> bytes:
        """The single untagged FETCH a command returns (literals inlined)."""
        untagged = [u for u in self.ok(text) if b" FETCH " in u]
        assert len(untagged) == 1, untagged
        return untagged[0]


def logged_in(running: RunningOperator) -> Iterator[Client]:
    """The body of each compliance module's ``client`` fixture: the doctor, logged in."""
    imap = Client(running)
    imap.login(**DOCTOR)
    yield imap
    RawImap.close_all()


@pytest.fixture
def client(running: RunningOperator) -> Iterator[Client]:
    yield from logged_in(running)


ENVELOPE_MESSAGE = (
    b"Message-ID: <msg@id>\r\nIn-Reply-To: <reply@to.id>\r\n"
    b"Date: Sat, 01 Feb 2007 01:02:03 +0200\r\n"
    b'Subject: =?utf-8?q?R=C3=A9sultat?= "bilan"\r\n'
    b"From: user@domain (Real Name)\r\n"
    b"Sender: \r\n"
    b"To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\r\n"
    b"Cc: <@route:user@domain>, Mary Smith\r\n <mary@x.test>\r\n"
    b"Bcc: undisclosed-recipients:;\r\n"
    b"\r\nbody\r\n"
)


def test_envelope_is_byte_exact(client: Client) -> None:
    client.folder(ENVELOPE_MESSAGE)
    assert client.fetch_one("FETCH 1 (ENVELOPE)") == (
        b'* 1 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200"'
        b' "=?utf-8?q?R=C3=A9sultat?= \\"bilan\\""'
        b' (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain"))'
        b' (("Real Name" NIL "user" "domain"))'
        b' ((NIL NIL "group" NIL) (NIL NIL "g1" "d1.org") (NIL NIL "g2" "d2.org")'
        b' (NIL NIL NIL NIL) (NIL NIL "group2" NIL) (NIL NIL "g3" "d3.org") (NIL NIL NIL NIL))'
        b' ((NIL "@route" "user" "domain") ("Mary Smith" NIL "mary" "x.test"))'
        b' ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL))'
        b' "<reply@to.id>" "<msg@id>"))\r\n'
    )


def test_envelope_of_a_message_without_header(client: Client) -> None:
    client.folder(b"\r\njust a body\r\n")
    assert client.fetch_one("FETCH 1 (ENVELOPE)") == (
        b"* 1 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
    )


FOLDED = (
    b"From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="foo\r\n bar"\r\n\r\n'
    b"--foo bar\r\nContent-Type: text/x-myown\r\n\r\nhello\r\n\r\n--foo bar--\r\n"
)


def test_body_of_a_multipart_with_a_folded_boundary(client: Client) -> None:
    client.folder(FOLDED)
    assert client.fetch_one("FETCH 1 (BODY)") == (
        b'* 1 FETCH (BODY (("TEXT" "X-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1)'
        b' "MIXED"))\r\n'
    )


INNER = (
    b"From: sub@domain.org\r\nDate: Sun, 12 Aug 2012 12:34:56 +0300\r\nSubject: submsg\r\n"
    b'Content-Type: multipart/alternative; boundary="sub1"\r\n\r\n'
    b"Sub MIME prologue\r\n--sub1\r\nContent-Type: text/html\r\n\r\n<p>Hello world</p>\r\n\r\n"
    b"--sub1\r\nContent-Type: text/plain\r\n\r\nHello another world\r\n\r\n"
    b"--sub1--\r\nSub MIME epilogue\r\n"
)
NESTED = (
    b"From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="foo bar"\r\n\r\n'
    b"Root MIME prologue\r\n\r\n"
    b"--foo bar\r\nContent-Type: text/x-myown; charset=us-ascii\r\n\r\nhello\r\n\r\n"
    b"--foo bar\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    + INNER
    + b"\r\n--foo bar--\r\nRoot MIME epilogue\r\n"
)
INNER_HEADER = INNER[: INNER.index(b"\r\n\r\n") + 4]

SECTIONS = [
    ("1", b"hello\r\n"),
    ("1.MIME", b"Content-Type: text/x-myown; charset=us-ascii\r\n\r\n"),
    ("2", INNER),
    ("2.MIME", b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"),
    ("2.HEADER", INNER_HEADER),
    ("2.HEADER.FIELDS (from subject X-foo)", b"From: sub@domain.org\r\nSubject: submsg\r\n\r\n"),
    (
        "2.HEADER.FIELDS.NOT (from subject X-foo)",
        b"Date: Sun, 12 Aug 2012 12:34:56 +0300\r\n"
        b'Content-Type: multipart/alternative; boundary="sub1"\r\n\r\n',
    ),
    ("2.TEXT", INNER[len(INNER_HEADER) :]),
    ("2.1", b"<p>Hello world</p>\r\n"),
    ("2.1.MIME", b"Content-Type: text/html\r\n\r\n"),
    ("2.2", b"Hello another world\r\n"),
    ("HEADER.FIELDS (Date)", b"Date: Sat, 24 Mar 2007 23:00:00 +0200\r\n\r\n"),
    ("3", None),  # no such part: NIL (RFC 3501 §7.4.2 nstring; tests/protocol/test_imap_binary.py)
]


@pytest.mark.parametrize(("section", "expected"), SECTIONS, ids=[s for s, _ in SECTIONS])
def test_body_sections_of_a_nested_message(
    client: Client, section: str, expected: bytes | None
) -> None:
    client.folder(NESTED)
    line = client.fetch_one(f"FETCH 1 (BODY.PEEK[{section}])")
    if expected is None:
        assert line == b"* 1 FETCH (BODY[%s] NIL)\r\n" % section.encode()
        return
    assert line == b"* 1 FETCH (BODY[%s] {%d}\r\n%s)\r\n" % (
        section.encode(),
        len(expected),
        expected,
    )


def test_bodystructure_of_the_nested_message(client: Client) -> None:
    client.folder(NESTED)
    inner_text = b'("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 20 1 NIL NIL NIL NIL)'
    assert client.fetch_one("FETCH 1 (BODYSTRUCTURE)") == (
        b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "X-MYOWN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1'
        b" NIL NIL NIL NIL)"
        b' ("MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d'
        % len(INNER)
        + b' ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org"))'
        b' ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) NIL NIL NIL NIL NIL)'
        b" (" + inner_text + b' ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 21 1'
        b' NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "sub1") NIL NIL NIL)'
        b' %d NIL ("ATTACHMENT" NIL) NIL NIL)'
        % INNER.count(b"\n")
        + b' "MIXED" ("BOUNDARY" "foo bar") NIL NIL NIL))\r\n'
    )


def test_partial_fetch_echoes_the_origin_only(client: Client) -> None:
    client.folder(NESTED)
    assert client.fetch_one("FETCH 1 (BODY.PEEK[]<0.10>)") == (
        b"* 1 FETCH (BODY[]<0> {10}\r\nFrom: user)\r\n"
    )
    assert client.fetch_one("FETCH 1 (BODY.PEEK[1]<3.100>)") == (
        b"* 1 FETCH (BODY[1]<3> {4}\r\nlo\r\n)\r\n"
    )
    # An origin past the end gives an empty string (RFC 3501 §6.4.5).
    assert client.fetch_one("FETCH 1 (BODY.PEEK[TEXT]<100000.5>)") == (
        b"* 1 FETCH (BODY[TEXT]<100000> {0}\r\n)\r\n"
    )


def test_peek_keeps_unseen_and_body_sets_seen(client: Client) -> None:
    client.folder(b"Subject: s\r\n\r\nbody\r\n")
    client.fetch_one("FETCH 1 (BODY.PEEK[TEXT])")
    assert client.fetch_one("FETCH 1 (FLAGS)") == b"* 1 FETCH (FLAGS (\\Recent))\r\n"
    assert client.fetch_one("FETCH 1 (BODY[TEXT])") == (
        b"* 1 FETCH (BODY[TEXT] {6}\r\nbody\r\n FLAGS (\\Seen \\Recent))\r\n"
    )


def test_binary_undoes_the_transfer_encoding(client: Client) -> None:
    message = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n"
        b"\r\ncaf=C3=A9 =3D ok\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"\r\nAAEC/w==\r\n--b--\r\n"
    )
    client.folder(message)
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])") == (
        b"* 1 FETCH (BINARY[1] {10}\r\ncaf\xc3\xa9 = ok BINARY.SIZE[1] 10)\r\n"
    )
    # RFC 3516 §4.2: content with NUL goes out as a literal8.
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[2]<0.2>)") == (
        b"* 1 FETCH (BINARY[2]<0> ~{2}\r\n\x00\x01)\r\n"
    )
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[2]<1.2>)") == (
        b"* 1 FETCH (BINARY[2]<1> {2}\r\n\x01\x02)\r\n"
    )
    # Beyond RFC 3516's section-binary, as Dovecot and imaptest do: the MIME header as stored.
    mime = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    assert client.fetch_one("FETCH 1 (BINARY.PEEK[1.MIME])") == (
        b"* 1 FETCH (BINARY[1.MIME] {%d}\r\n%s)\r\n" % (len(mime), mime)
    )


def test_macros_and_reversed_ranges(client: Client) -> None:
    client.folder(
        b"Subject: a\r\n\r\n1\r\n", b"Subject: b\r\n\r\n2\r\n", b"Subject: c\r\n\r\n3\r\n"
    )
    for text in ("FETCH 3:1 UID", "FETCH *:1 UID"):
        lines = client.ok(text)
        assert [ln.split(b" ")[1] for ln in lines] == [b"1", b"2", b"3"]
    full = client.fetch_one("FETCH 1 FULL")
    assert re.fullmatch(
        rb"\* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE \"[^\"]+\" RFC822\.SIZE 17 "
        rb"ENVELOPE \(NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL\) "
        rb"BODY \(\"TEXT\" \"PLAIN\" \(\"CHARSET\" \"us-ascii\"\) NIL NIL \"7BIT\" 3 1\)\)\r\n",
        full,
    ), full
    fast = client.fetch_one("FETCH 1 FAST")
    assert re.fullmatch(
        rb"\* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE \"[^\"]+\" RFC822\.SIZE 17\)\r\n", fast
    )


def test_uid_of_a_message_another_session_expunged(running: RunningOperator) -> None:
    one = Client(running).login(**DOCTOR)
    assert isinstance(one, Client)
    name = one.folder(b"Subject: a\r\n\r\n1\r\n", b"Subject: b\r\n\r\n2\r\n")
    two = Client(running).login(**DOCTOR)
    two.ok(f"SELECT {name}")
    one.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert one.ok("EXPUNGE") == [b"* 2 EXPUNGE\r\n"]
    # RFC 3501 §7.4.1: no EXPUNGE during FETCH; the message keeps its number and its UID.
    untagged = two.ok("FETCH 2 (UID)")
    assert b"* 2 FETCH (UID 2)\r\n" in untagged
    assert b"* 2 EXPUNGE\r\n" in two.ok("NOOP")
    RawImap.close_all()


def test_uid_of_an_expunged_message_in_a_large_fetch(running: RunningOperator) -> None:
    # The bulk path (folder summary, from SUMMARY_MIN messages) names it the same way.
    name = folder_with(running, 300)
    one = Client(running).login(**DOCTOR)
    one.ok(f"SELECT {name}")
    two = Client(running).login(**DOCTOR)
    two.ok(f"SELECT {name}")
    two.ok("STORE 5 +FLAGS.SILENT (\\Deleted)")
    two.ok("EXPUNGE")
    lines = one.ok("FETCH 1:* (UID FLAGS)")
    assert len(lines) == 300
    assert lines[4] == b"* 5 FETCH (UID 5)\r\n"
    assert lines[5] == b"* 6 FETCH (UID 6 FLAGS (\\Recent))\r\n"
    assert b"* 5 EXPUNGE\r\n" in one.ok("NOOP")
    RawImap.close_all()
