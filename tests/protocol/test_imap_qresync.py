"""QRESYNC (RFC 7162 §3.2) over real TLS sockets against the demo operator (issue 3).

A raw client (imaplib knows nothing of QRESYNC) sends the exact bytes and sees every response in
order. Two sessions share a folder: one expunges and changes flags, the other comes back later
with ``SELECT ... (QRESYNC (uidvalidity modseq ...))`` and must learn exactly what changed, in
the order the RFC gives (HIGHESTMODSEQ, then ``VANISHED (EARLIER)``, then ``FETCH``).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import pytest

from mailbox_store.models import Delivery
from tests.conftest import empty_database, pg_url
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import message
from tests.protocol.test_imap_hostile import RawImap, status_of

DOCTOR = {"rpps": "10001234567"}
_CODE = re.compile(rb"\[([A-Z-]+) ?([^\]]*)\]")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    """The demo operator on its embedded SQLite, then on PostgreSQL (MSS_TEST_PG_URL, emptied
    first: the demo creates its accounts on a fresh database)."""
    operator = RunningOperator(tmp_path_factory.mktemp("qresync"))
    if request.param == "postgres":
        url = pg_url()
        if not url:
            pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
        asyncio.run(empty_database(url))
        database = operator.settings.database.model_copy(update={"url": url})
        operator.settings = operator.settings.model_copy(update={"database": database})
    operator.start()
    yield operator
    operator.stop()


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    RawImap.close_all()


def folder_with(running: RunningOperator, count: int) -> str:
    """A fresh folder of the doctor's holding ``count`` messages, UIDs 1..count."""
    account = running.account("PER", **DOCTOR)["address"]
    name = f"Q{uuid.uuid4().hex[:8]}"

    async def build() -> None:
        store = running.operator.store
        await store.create_folder(account, name)
        for n in range(count):
            data = message("a@example.org", account, subject=f"M{n}", body=f"message {n}\n")
            await store.deliver(data, [Delivery(account, name)])

    running.call(build())
    return name


def code(lines: list[bytes], name: bytes) -> bytes | None:
    """The argument of response code ``name`` in the first line that carries it."""
    for line in lines:
        for found in _CODE.finditer(line):
            if found.group(1) == name:
                return found.group(2)
    return None


def qclient(running: RunningOperator) -> RawImap:
    client = RawImap(running).login(**DOCTOR)
    assert client.ok("ENABLE QRESYNC") == [b"* ENABLED QRESYNC\r\n"]
    return client


def state_of(running: RunningOperator, name: str) -> tuple[int, int]:
    """(UIDVALIDITY, HIGHESTMODSEQ) of a folder, as a client learns them from SELECT."""
    client = RawImap(running).login(**DOCTOR)
    lines = client.ok(f"EXAMINE {name}")
    client.ok("LOGOUT")
    validity, modseq = code(lines, b"UIDVALIDITY"), code(lines, b"HIGHESTMODSEQ")
    assert validity is not None
    assert modseq is not None
    return int(validity), int(modseq)


def expunge_elsewhere(running: RunningOperator, name: str, uids: str) -> None:
    """Another session (without QRESYNC) removes ``uids``; it is told with EXPUNGE."""
    other = RawImap(running).login(**DOCTOR)
    other.ok(f"SELECT {name}")
    other.ok(f"UID STORE {uids} +FLAGS.SILENT (\\Deleted)")
    lines = other.ok(f"UID EXPUNGE {uids}")
    assert lines, "the expunging session is told"
    assert all(line.endswith(b" EXPUNGE\r\n") for line in lines), lines
    other.ok("LOGOUT")


def kinds(lines: list[bytes]) -> list[bytes]:
    """A short name per response: ``VANISHED``, ``FETCH``, ``EXPUNGE``, ``OK-HIGHESTMODSEQ`` ..."""
    out: list[bytes] = []
    for line in lines:
        words = line.split()
        if words[1] == b"OK" and (found := _CODE.search(line)):
            out.append(b"OK-" + found.group(1))
        elif words[1].isdigit():
            out.append(words[2])
        else:
            out.append(words[1])
    return out


# -- ENABLE and capability ------------------------------------------------------------------


def test_qresync_is_advertised_and_enable_implies_condstore(running: RunningOperator) -> None:
    client = RawImap(running).login(**DOCTOR)
    (line,) = client.ok("CAPABILITY")
    assert b" QRESYNC" in line
    assert b" CONDSTORE" in line
    client.ok("ENABLE QRESYNC")
    name = folder_with(running, 1)
    client.ok(f"SELECT {name}")
    lines = client.ok("STORE 1 +FLAGS.SILENT (\\Seen)")  # CONDSTORE is on: MODSEQ comes unasked
    assert re.match(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)\r\n", lines[0]), lines


# -- errors ---------------------------------------------------------------------------------


def test_qresync_parameters_without_enable_are_bad(running: RunningOperator) -> None:
    name = folder_with(running, 2)
    client = RawImap(running).login(**DOCTOR)
    client.ok(f"SELECT {name}")
    validity, modseq = state_of(running, name)
    untagged, tagged = client.command(f"SELECT {name} (QRESYNC ({validity} {modseq}))")
    assert status_of(tagged) == b"BAD"
    assert b"[CLIENTBUG]" in tagged
    assert untagged == []  # RFC 7162 §3.2.5: rejected before anything, mailbox kept
    client.ok("FETCH 2 (UID)")
    _, tagged = client.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert status_of(tagged) == b"BAD"
    assert b"[CLIENTBUG]" in tagged


@pytest.mark.parametrize(
    "params",
    [
        "(QRESYNC (0 5))",  # UIDVALIDITY is a nz-number
        "(QRESYNC (7 0))",  # mod-sequence-value >= 1
        "(QRESYNC (7 5 1:*))",  # no '*' in known-uids
        "(QRESYNC (7 5 1:3 (1:3 1:2)))",  # seq-match-data of different sizes
        "(QRESYNC (7 5 (3,1 1,3)))",  # not ascending
        "(QRESYNC (7 5 (1,2 1:*)))",
        "(QRESYNC (7 5) QRESYNC (7 5))",
        "(QRESYNC (7))",
        "(QRESYNC 7 5)",
        "(QRESYNC (7 5 1:3 (1 1) extra))",
    ],
)
def test_malformed_qresync_parameters_are_bad(running: RunningOperator, params: str) -> None:
    client = qclient(running)
    _, tagged = client.command(f"SELECT INBOX {params}")
    assert status_of(tagged) == b"BAD", tagged
    client.ok("SELECT INBOX")  # the session goes on


def test_vanished_modifier_needs_changedsince_and_uid_fetch(running: RunningOperator) -> None:
    client = qclient(running)
    client.ok(f"SELECT {folder_with(running, 2)}")
    for command in (
        "UID FETCH 1:* (FLAGS) (VANISHED)",
        "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
    ):
        _, tagged = client.command(command)
        assert status_of(tagged) == b"BAD", (command, tagged)


# -- SELECT (QRESYNC ...) after another session's changes -------------------------------------


def test_resync_after_another_session_expunged_and_changed_flags(running: RunningOperator) -> None:
    name = folder_with(running, 10)
    validity, before = state_of(running, name)
    expunge_elsewhere(running, name, "3,7")
    other = RawImap(running).login(**DOCTOR)
    other.ok(f"SELECT {name}")
    other.ok("UID STORE 4 +FLAGS.SILENT ($Label1)")
    other.ok("LOGOUT")
    _, after = state_of(running, name)
    assert after > before

    client = qclient(running)
    lines = client.ok(f"SELECT {name} (QRESYNC ({validity} {before}))")
    order = kinds(lines)
    assert order.index(b"OK-HIGHESTMODSEQ") < order.index(b"VANISHED") < order.index(b"FETCH")
    assert b"* VANISHED (EARLIER) 3,7\r\n" in lines
    fetches = [line for line in lines if b" FETCH " in line]
    assert len(fetches) == 1
    # UID 3 is gone, so message 3 is UID 4; UID, FLAGS and MODSEQ are all there.
    assert re.match(
        rb"\* 3 FETCH \(UID 4 FLAGS \(\$Label1( \\Recent)?\) MODSEQ \((\d+)\)\)\r\n", fetches[0]
    ), fetches
    assert int(code(lines, b"HIGHESTMODSEQ") or 0) == after
    assert b"* 8 EXISTS\r\n" in lines

    # known-uids narrows both the VANISHED and the FETCH responses to the client's messages.
    lines = client.ok(f"EXAMINE {name} (QRESYNC ({validity} {before} 5:10))")
    assert b"* VANISHED (EARLIER) 7\r\n" in lines
    assert not any(b" FETCH " in line for line in lines)
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"

    # seq-match-data: the client's numbers 1 -> UID 1 and 3 -> UID 4 still hold, so it knew
    # of 3's removal already; 9 -> UID 10 no longer holds. Only 7 is news (RFC 7162 §3.2.5.2).
    lines = client.ok(f"EXAMINE {name} (QRESYNC ({validity} {before} (1,3,9 1,4,10)))")
    assert b"* VANISHED (EARLIER) 7\r\n" in lines

    # Up to date: nothing to report. Stale UIDVALIDITY: a plain SELECT (the client starts over).
    for params in (f"{validity} {after}", f"{validity + 1} {before}"):
        lines = client.ok(f"SELECT {name} (QRESYNC ({params}))")
        assert not any(b"VANISHED" in line or b" FETCH " in line for line in lines), params
        assert b"* 8 EXISTS\r\n" in lines


def test_resync_without_known_uids_reports_every_missing_uid(running: RunningOperator) -> None:
    # No per-UID expunge record: every UID below UIDNEXT not in the folder is reported, even
    # those gone before the client's mod-sequence (allowed: clients ignore UIDs they lack).
    name = folder_with(running, 6)
    expunge_elsewhere(running, name, "2")
    validity, middle = state_of(running, name)
    expunge_elsewhere(running, name, "5:6")
    client = qclient(running)
    lines = client.ok(f"SELECT {name} (QRESYNC ({validity} {middle}))")
    assert b"* VANISHED (EARLIER) 2,5:6\r\n" in lines
    assert b"* 3 EXISTS\r\n" in lines


# -- VANISHED instead of EXPUNGE --------------------------------------------------------------


def test_unsolicited_vanished_replaces_expunge(running: RunningOperator) -> None:
    name = folder_with(running, 5)
    client = qclient(running)
    client.ok(f"SELECT {name}")
    expunge_elsewhere(running, name, "2")
    lines = client.ok("FETCH 1 (FLAGS)")  # no removal report while FETCH runs (RFC 3501 §7.4.1)
    assert not any(b"VANISHED" in line or b"EXPUNGE" in line for line in lines), lines
    lines = client.ok("NOOP")
    assert lines == [b"* VANISHED 2\r\n"]
    expunge_elsewhere(running, name, "4:5")
    lines = client.ok("UID FETCH 1 (FLAGS)")  # the UID form may report it
    assert b"* VANISHED 4:5\r\n" in lines
    assert not any(b"EXPUNGE" in line for line in lines)
    lines = client.ok("FETCH 1:* (UID)")
    assert [line.split(b"UID ")[1] for line in lines] == [b"1)\r\n", b"3)\r\n"]


def test_held_back_removal_lowers_the_announced_highestmodseq(running: RunningOperator) -> None:
    # STORE may not report the removal, yet its FETCH carries a MODSEQ above it: the server
    # names a safe HIGHESTMODSEQ below the removal, and a resync from there reports it.
    name = folder_with(running, 3)
    client = qclient(running)
    validity = int(code(client.ok(f"SELECT {name}"), b"UIDVALIDITY") or 0)
    expunge_elsewhere(running, name, "1")
    lines = client.ok("STORE 2 +FLAGS ($Label1)")
    assert not any(b"VANISHED" in line for line in lines)
    stored = re.search(rb"\* 2 FETCH \(UID 2 .*MODSEQ \((\d+)\)\)", b"".join(lines))
    assert stored is not None, lines
    safe = int(code(lines, b"HIGHESTMODSEQ") or 0)
    assert 0 < safe < int(stored.group(1))
    client.close()  # gone before hearing of the removal
    lines = qclient(running).ok(f"SELECT {name} (QRESYNC ({validity} {safe}))")
    assert b"* VANISHED (EARLIER) 1\r\n" in lines
    assert any(line.startswith(b"* 1 FETCH (UID 2 FLAGS ($Label1") for line in lines), lines


def test_idle_pushes_vanished(running: RunningOperator) -> None:
    name = folder_with(running, 3)
    client = qclient(running)
    client.ok(f"SELECT {name}")
    client.send(b"i1 IDLE\r\n")
    assert client.readline().startswith(b"+ ")
    expunge_elsewhere(running, name, "1:2")  # flags first (FETCH), then VANISHED
    while (line := client.readline()).startswith(b"* ") and b" FETCH (UID " in line:
        pass
    assert line == b"* VANISHED 1:2\r\n"
    client.send(b"DONE\r\n")
    untagged, tagged = client.until_tagged(b"i1")
    assert untagged == []
    assert status_of(tagged) == b"OK"


def test_expunge_and_uid_expunge_answer_vanished_and_highestmodseq(
    running: RunningOperator,
) -> None:
    name = folder_with(running, 6)
    client = qclient(running)
    lines = client.ok(f"SELECT {name}")
    start = int(code(lines, b"HIGHESTMODSEQ") or 0)
    client.ok("STORE 1:2,5 +FLAGS.SILENT (\\Deleted)")
    untagged, tagged = client.command("EXPUNGE")
    assert untagged == [b"* VANISHED 1:2,5\r\n"]
    assert status_of(tagged) == b"OK"
    first = int(code([tagged], b"HIGHESTMODSEQ") or 0)  # RFC 7162 §3.2.7
    assert first > start
    client.ok("UID STORE 3:4 +FLAGS.SILENT (\\Deleted)")
    untagged, tagged = client.command("UID EXPUNGE 4")
    assert untagged == [b"* VANISHED 4\r\n"]
    assert int(code([tagged], b"HIGHESTMODSEQ") or 0) > first
    # The other session (no QRESYNC) still gets EXPUNGE with message numbers.
    other = RawImap(running).login(**DOCTOR)
    other.ok(f"SELECT {name}")
    client.ok("EXPUNGE")
    assert other.ok("NOOP") == [b"* 1 EXPUNGE\r\n"]
    # Nothing removed: no HIGHESTMODSEQ claim needed.
    untagged, tagged = client.command("EXPUNGE")
    assert untagged == []
    assert re.fullmatch(rb"h\d+ OK EXPUNGE completed\r\n", tagged), tagged


def test_move_reports_vanished_and_close_reports_nothing(running: RunningOperator) -> None:
    name, target = folder_with(running, 4), folder_with(running, 0)
    client = qclient(running)
    client.ok(f"SELECT {name}")
    lines, tagged = client.command(f"UID MOVE 2:3 {target}")
    assert kinds(lines) == [b"OK-COPYUID", b"VANISHED"], lines
    assert lines[1] == b"* VANISHED 2:3\r\n"
    assert re.fullmatch(rb"h\d+ OK \[HIGHESTMODSEQ \d+\] MOVE completed\r\n", tagged), tagged
    client.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert client.ok("CLOSE") == []  # CLOSE expunges silently (RFC 3501 §6.4.2)
    lines = client.ok(f"SELECT {name}")
    assert b"* 1 EXISTS\r\n" in lines
    assert lines[0] != b"* OK [CLOSED] Previous mailbox closed\r\n"  # nothing was selected


def test_uid_fetch_changedsince_vanished(running: RunningOperator) -> None:
    name = folder_with(running, 6)
    client = qclient(running)
    lines = client.ok(f"SELECT {name}")
    before = int(code(lines, b"HIGHESTMODSEQ") or 0)
    expunge_elsewhere(running, name, "2,6")  # 6 is the last UID: '*' must still cover it
    lines = client.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {before} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 2,6\r\n"  # first, before any FETCH
    assert lines[-1] == b"* VANISHED 2,6\r\n"  # then the session's own update (UID command)
    assert not any(b"FLAGS" in line for line in lines)  # nothing else changed
    client.ok("UID STORE 1,4 +FLAGS.SILENT (\\Flagged)")
    lines = client.ok(f"UID FETCH 3:5 (FLAGS) (CHANGEDSINCE {before} VANISHED)")
    assert len(lines) == 1, lines  # 3:5 lost nothing; of it only UID 4 (message 3) changed
    assert re.match(rb"\* 3 FETCH \(UID 4 FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)\)", lines[0])


# -- [CLOSED], HIGHESTMODSEQ, UIDs in FETCH ---------------------------------------------------


def test_closed_marks_the_switch_between_mailboxes(running: RunningOperator) -> None:
    first, second = folder_with(running, 1), folder_with(running, 2)
    client = RawImap(running).login(**DOCTOR)
    lines = client.ok(f"SELECT {first}")
    assert not any(b"[CLOSED]" in line for line in lines)
    lines = client.ok(f"EXAMINE {second}")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"
    assert [line for line in lines if b"[CLOSED]" in line] == [lines[0]]
    untagged, tagged = client.command("SELECT nonexistent-folder")
    assert status_of(tagged) == b"NO"
    assert untagged == [b"* OK [CLOSED] Previous mailbox closed\r\n"]
    lines = client.ok(f"SELECT {first}")  # nothing was selected after the failure
    assert not any(b"[CLOSED]" in line for line in lines)
    client.ok("UNSELECT")
    lines = client.ok(f"SELECT {first}")
    assert not any(b"[CLOSED]" in line for line in lines)


def test_every_select_has_highestmodseq_never_nomodseq(running: RunningOperator) -> None:
    client = qclient(running)
    for verb in ("SELECT", "EXAMINE"):
        lines = client.ok(f"{verb} {folder_with(running, 0)}")
        assert int(code(lines, b"HIGHESTMODSEQ") or 0) >= 1
        assert code(lines, b"NOMODSEQ") is None


def test_flag_fetches_carry_the_uid_under_qresync(running: RunningOperator) -> None:
    client = qclient(running)
    client.ok(f"SELECT {folder_with(running, 3)}")
    lines = client.ok("STORE 2 +FLAGS (\\Seen)")
    assert re.match(rb"\* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Recent\) MODSEQ \(\d+\)\)", lines[0])
