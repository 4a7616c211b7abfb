"""Whole-mailbox FETCH and SEARCH over real sockets (issue 3, "Speed"): ``FETCH 1:* (UID FLAGS)``
answered in bulk from the folder summary gives exactly what the per-record path gives (flags,
``\\Recent``, numbers, a message expunged by another session named by its UID alone until
reported); SEARCH
on headers and flags without loading records finds the right messages."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator, Sequence

import pytest

from mss.imap.fetching import SUMMARY_MIN
from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_imaplib import fresh_folder, login

COUNT = SUMMARY_MIN + 44
_LINE = re.compile(rb"^(\d+) \((.*)\)$")


@pytest.fixture
def doctor(running: RunningOperator) -> Iterator[imaplib.IMAP4_SSL]:
    client = login(running, "PER", rpps="10001234567")
    yield client
    client.logout()


def mail(n: int) -> bytes:
    subject = "Resultats labo" if n % 7 == 0 else "Compte rendu"
    return (
        f"From: <dr{n % 5}@chu.mssante.fr>\r\nSubject: {subject} {n}\r\n"
        f"Message-ID: <{n}.bulk@chu.mssante.fr>\r\n\r\ntexte {n}\r\n"
    ).encode()


def parsed(data: Sequence[object]) -> dict[int, tuple[int, frozenset[bytes] | None]]:
    """``{number: (uid, flags)}`` from FETCH responses holding UID and FLAGS (any order); flags
    ``None`` for a message expunged meanwhile (its UID alone)."""
    found = {}
    for item in data:
        assert isinstance(item, bytes)
        match = _LINE.match(item)
        assert match is not None, item
        uid = re.search(rb"UID (\d+)", match.group(2))
        flags = re.search(rb"FLAGS \(([^)]*)\)", match.group(2))
        assert uid is not None, item
        if flags is None:
            assert match.group(2) == b"UID " + uid.group(1), item
        names = None if flags is None else frozenset(flags.group(1).split())
        found[int(match.group(1))] = (int(uid.group(1)), names)
    return found


def fill(client: imaplib.IMAP4, folder: str) -> None:
    for n in range(COUNT):
        flags = "(\\Seen $Bulk)" if n % 3 == 0 else ""
        assert client.append(folder, flags, None, mail(n))[0] == "OK"


def test_bulk_fetch_matches_per_record_fetch(
    running: RunningOperator, doctor: imaplib.IMAP4_SSL
) -> None:
    folder = fresh_folder(doctor, "Bulk")
    fill(doctor, folder)
    assert doctor.select(folder)[0] == "OK"  # every message \Recent for this session
    other = login(running, "PER", rpps="10001234567")
    try:
        other.select(folder)
        other.uid("STORE", "5", "+FLAGS", "(\\Deleted)")
        other.expunge()  # this session is not told before its next EXPUNGE-allowing command
    finally:
        other.logout()
    typ, bulk = doctor.fetch("1:*", "(UID FLAGS)")
    assert typ == "OK"
    typ, slow = doctor.fetch("1:*", "(FLAGS UID RFC822.SIZE)")
    assert typ == "OK"
    fast, reference = parsed(bulk), parsed(slow)
    assert fast == reference
    assert len(fast) == COUNT
    assert fast[5] == (5, None)  # expunged by the other session: its UID alone (RFC 2180 §4.1.3)
    assert fast[1] == (1, frozenset({b"\\Seen", b"$Bulk", b"\\Recent"}))
    assert fast[2] == (2, frozenset({b"\\Recent"}))
    typ, data = doctor.uid("FETCH", "1:*", "(FLAGS)")  # the UID form adds UID first
    assert typ == "OK"
    assert parsed(data) == fast


def test_search_headers_and_flags_without_records(doctor: imaplib.IMAP4_SSL) -> None:
    folder = fresh_folder(doctor, "Bulk")
    fill(doctor, folder)
    assert doctor.select(folder, readonly=True)[0] == "OK"
    typ, data = doctor.uid("SEARCH", "SUBJECT", '"resultats LABO"')
    assert typ == "OK"
    assert [int(u) for u in data[0].split()] == [n + 1 for n in range(COUNT) if n % 7 == 0]
    typ, data = doctor.uid("SEARCH", "UNSEEN", "FROM", "dr2@chu.mssante.fr")
    expected = [n + 1 for n in range(COUNT) if n % 5 == 2 and n % 3 != 0]
    assert typ == "OK"
    assert [int(u) for u in data[0].split()] == expected
    typ, data = doctor.search(None, "KEYWORD", "$Bulk", "HEADER", "Message-ID", "<21.bulk@")
    assert typ == "OK"
    assert data[0] == b"22"
    typ, data = doctor.uid("SEARCH", "LARGER", "1", "SUBJECT", '"Compte rendu 4"')
    hits = [n + 1 for n in range(COUNT) if n % 7 and str(n).startswith("4")]
    assert typ == "OK"
    assert [int(u) for u in data[0].split()] == hits
