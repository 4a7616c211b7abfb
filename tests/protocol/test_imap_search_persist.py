"""Over real sockets: the zone of INTERNALDATE kept through APPEND, COPY and MOVE and used by
BEFORE/ON/SINCE (RFC 3501 §2.3.3, §6.4.4: the date "disregarding time and timezone", i.e. its
own day, as imaptest's ``search-intdate`` expects), and a header SEARCH after a restart answered
from the saved index columns (``search_persist``, issue 3), new and expunged messages included.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import AsyncGenerator, Sequence

import pytest

from mss.imap import search_index, search_persist, searching
from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_imaplib import fresh_folder, login

ZONED = [  # in UTC: 02-Jan 04:00, 01-Jan 23:00, 02-Jan 12:00
    '"01-Jan-2024 23:00:00 -0500"',
    '"02-Jan-2024 01:00:00 +0200"',
    '"02-Jan-2024 12:00:00 +0000"',
]


def _append(client: imaplib.IMAP4, folder: str, subject: str, date: str | None = None) -> int:
    body = f"From: a@chu.fr\r\nSubject: {subject}\r\n\r\ncorps\r\n".encode()
    typ, data = client.append(folder, "", date, body)
    assert typ == "OK", data
    match = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0] or b"")
    assert match is not None
    return int(match.group(1))


def _uids(client: imaplib.IMAP4, *criteria: str) -> list[int]:
    typ, data = client.uid("SEARCH", *criteria)
    assert typ == "OK", data
    return [int(n) for n in (data[0] or b"").split()]


def _internal_dates(client: imaplib.IMAP4) -> list[bytes]:
    typ, data = client.fetch("1:*", "(INTERNALDATE)")
    assert typ == "OK", data
    return [re.search(rb'INTERNALDATE "([^"]+)"', d).group(1) for d in data if isinstance(d, bytes)]  # type: ignore[union-attr]


@pytest.fixture
def doctor(running: RunningOperator) -> imaplib.IMAP4_SSL:
    return login(running, "PER", rpps="10001234567")


def test_internal_date_zone_kept_and_searched_by_its_own_day(
    doctor: imaplib.IMAP4_SSL,
) -> None:
    folder = fresh_folder(doctor, "Z")
    uids = [_append(doctor, folder, f"s{n}", date) for n, date in enumerate(ZONED)]
    assert doctor.select(folder)[0] == "OK"
    shown = [
        b"01-Jan-2024 23:00:00 -0500",
        b"02-Jan-2024 01:00:00 +0200",
        b"02-Jan-2024 12:00:00 +0000",
    ]
    assert _internal_dates(doctor) == shown
    assert _uids(doctor, "ON", "1-Jan-2024") == [uids[0]]
    assert _uids(doctor, "ON", "2-Jan-2024") == [uids[1], uids[2]]
    assert _uids(doctor, "BEFORE", "2-Jan-2024") == [uids[0]]
    assert _uids(doctor, "SINCE", "2-Jan-2024") == [uids[1], uids[2]]
    copies = fresh_folder(doctor, "Z")
    assert doctor.uid("COPY", f"{uids[0]}:{uids[1]}", copies)[0] == "OK"
    moved = fresh_folder(doctor, "Z")
    assert doctor.select(copies)[0] == "OK"
    assert _internal_dates(doctor) == shown[:2]
    assert doctor._simple_command("MOVE", "1:*", moved)[0] == "OK"
    assert doctor.select(moved)[0] == "OK"
    assert _internal_dates(doctor) == shown[:2]
    assert _uids(doctor, "ON", "1-Jan-2024") == [_uids(doctor, "ALL")[0]]
    doctor.logout()


def test_search_after_a_restart_reads_only_new_headers(
    doctor: imaplib.IMAP4_SSL, running: RunningOperator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searching, "INDEX_MIN", 0)
    monkeypatch.setattr(search_persist, "SAVE_MIN", 1)
    folder = fresh_folder(doctor, "P")
    uids = [_append(doctor, folder, f"{'Bilan' if n % 3 == 0 else 'Suivi'} {n}") for n in range(12)]
    assert doctor.select(folder)[0] == "OK"
    assert _uids(doctor, "SUBJECT", "bilan") == uids[::3]
    running.call(search_persist.drain())  # the columns saved in the background
    store = running.operator.store
    saved = running.call(
        store.get_folder(running.account("PER", rpps="10001234567")["address"], folder)
    )
    assert saved is not None
    assert set(running.call(store.load_search_snapshots(saved.id, saved.uidvalidity, ["subject"])))
    # A restart: no index in memory; meanwhile a message expunged and two delivered.
    search_index._CACHES.clear()
    assert doctor.uid("STORE", str(uids[3]), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
    assert doctor.expunge()[0] == "OK"
    more = [_append(doctor, folder, "Bilan 12"), _append(doctor, folder, "Suivi 13")]
    read: list[int] = []
    original = store.iter_headers

    async def spying(
        folder_id: int, wanted: Sequence[int] | None = None, batch: int = 1000
    ) -> AsyncGenerator[list[tuple[int, bytes]], None]:
        async for part in original(folder_id, wanted, batch):
            read.extend(uid for uid, _ in part)
            yield part

    monkeypatch.setattr(store, "iter_headers", spying)
    assert doctor.noop()[0] == "OK"  # the new messages seen by the session
    assert _uids(doctor, "SUBJECT", "bilan") == [uids[0], uids[6], uids[9], more[0]]
    assert read == more  # the saved column: no header read up to its max_uid
    assert _uids(doctor, "NOT", "SUBJECT", "bilan") == [
        u for u in [*uids, *more] if u not in uids[::3] + more[:1]
    ]
    doctor.logout()
