"""RFC 3501 §2.3.2 \\Recent over real sockets: a new message is \\Recent in exactly one of the
sessions that have its folder selected, whether they learn of it from a SELECT or from an
update (NOOP), even when they ask at the same moment; EXAMINE claims nothing; a message claimed
before a restart is not \\Recent again after it (the marks are kept in memory on SQLite and
written in the background, and at shutdown)."""

from __future__ import annotations

import functools
import imaplib
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_imaplib import append, fresh_folder, login, untagged


def mail(n: int) -> bytes:
    return f"From: <dr{n}@chu.mssante.fr>\r\nSubject: Compte rendu {n}\r\n\r\ntexte\r\n".encode()


def recent_uids(client: imaplib.IMAP4) -> set[int]:
    """The UIDs this session sees ``\\Recent`` (``FETCH 1:* (UID FLAGS)``)."""
    typ, data = client.fetch("1:*", "(UID FLAGS)")
    assert typ == "OK"
    found = set()
    for item in data:
        assert isinstance(item, bytes), item
        uid = re.search(rb"UID (\d+)", item)
        flags = re.search(rb"FLAGS \(([^)]*)\)", item)
        assert uid is not None, item
        assert flags is not None, item
        if b"\\Recent" in flags.group(1).split():
            found.add(int(uid.group(1)))
    return found


def recent_count(client: imaplib.IMAP4) -> int:
    counts = untagged(client, "RECENT")
    assert counts, "no * n RECENT"
    return int(counts[-1])


def at_once(calls: Sequence[Callable[[], object]]) -> list[object]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


@pytest.fixture
def sessions(running: RunningOperator) -> Iterator[list[imaplib.IMAP4_SSL]]:
    opened = [login(running, "PER", rpps="10001234567") for _ in range(4)]
    yield opened
    for client in opened:
        client.logout()


def test_a_new_message_is_recent_in_exactly_one_of_two_selected_sessions(
    sessions: list[imaplib.IMAP4_SSL],
) -> None:
    one, two, writer = sessions[:3]
    folder = fresh_folder(writer, "Recent")
    old = append(writer, folder, mail(0))
    for client in (one, two):
        assert client.select(folder)[0] == "OK"
    claimed = [recent_uids(one), recent_uids(two)]
    assert sorted(map(len, claimed)) == [0, 1]
    assert set().union(*claimed) == {old}
    new = append(writer, folder, mail(1))  # the writer has not selected the folder
    for client in (one, two):
        assert client.noop()[0] == "OK"
    first, second = recent_uids(one) - {old}, recent_uids(two) - {old}
    assert (first | second, first & second) == ({new}, set())


def test_sessions_racing_see_each_new_message_recent_exactly_once(
    sessions: list[imaplib.IMAP4_SSL],
) -> None:
    writer, readers = sessions[0], sessions[1:]
    folder = fresh_folder(writer, "Race")
    delivered = {append(writer, folder, mail(n)) for n in range(6)}
    at_once([functools.partial(c.select, folder) for c in readers])
    counts = [recent_count(c) for c in readers]
    seen = [recent_uids(c) for c in readers]
    assert sum(counts) == len(delivered) == sum(map(len, seen))
    assert set().union(*seen) == delivered
    for round_ in range(3):
        added = {append(writer, folder, mail(10 * round_ + n)) for n in range(3)}
        at_once([c.noop for c in readers])
        now = [recent_uids(c) - delivered for c in readers]
        assert sum(map(len, now)) == len(added)
        assert set().union(*now) == added
        delivered |= added


def test_examine_claims_nothing(sessions: list[imaplib.IMAP4_SSL]) -> None:
    writer, reader = sessions[:2]
    folder = fresh_folder(writer, "Examine")
    uid = append(writer, folder, mail(0))
    assert reader.select(folder, readonly=True)[0] == "OK"
    assert recent_count(reader) == 0  # EXAMINE shows what is recent without claiming it
    assert reader.select(folder)[0] == "OK"
    assert recent_count(reader) == 1
    assert recent_uids(reader) == {uid}


def test_claims_survive_a_restart(tmp_path: Path) -> None:
    first = RunningOperator(tmp_path / "demo").start()
    try:
        client = login(first, "PER", rpps="10001234567")
        folder = fresh_folder(client, "Restart")
        uids = {append(client, folder, mail(n)) for n in range(3)}
        assert client.select(folder)[0] == "OK"
        assert recent_uids(client) == uids
        client.logout()
    finally:
        first.stop()
    second = RunningOperator(tmp_path / "demo").start()
    try:
        client = login(second, "PER", rpps="10001234567")
        assert client.select(folder)[0] == "OK"
        assert recent_count(client) == 0
        assert recent_uids(client) == set()
        new = append(client, folder, mail(9))
        assert client.noop()[0] == "OK"
        assert recent_uids(client) == {new}
        client.logout()
    finally:
        second.stop()
