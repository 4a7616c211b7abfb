"""STORE, APPEND, COPY, MOVE, EXPUNGE, pipelining and login corners to the letter (RFC 3501
§6.3.11, §6.4, §7.4.1, §5.5; UIDPLUS RFC 4315; MOVE RFC 6851; CONDSTORE RFC 7162; issue 3),
over real TLS against the demo operator.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_compliance_fetch import DOCTOR, Client, logged_in
from tests.protocol.test_imap_hostile import RawImap, status_of

MESSAGE = b"Subject: m\r\n\r\nbody\r\n"


@pytest.fixture
def client(running: RunningOperator) -> Iterator[Client]:
    yield from logged_in(running)


def second(running: RunningOperator, name: str) -> RawImap:
    other = RawImap(running).login(**DOCTOR)
    other.ok(f"SELECT {name}")
    return other


def test_store_answers_and_other_sessions_see_it(running: RunningOperator, client: Client) -> None:
    name = client.folder(MESSAGE, MESSAGE, MESSAGE, MESSAGE)
    other = second(running, name)
    assert client.ok("STORE 1:3 FLAGS (\\seen)") == [  # flags are case-insensitive
        b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n",
        b"* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n",
        b"* 3 FETCH (FLAGS (\\Seen \\Recent))\r\n",
    ]
    assert other.ok("CHECK") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n",
        b"* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n",
    ]
    assert client.ok("STORE 3 FLAGS (\\Draft)") == [b"* 3 FETCH (FLAGS (\\Draft \\Recent))\r\n"]
    assert client.ok("STORE 1 +FLAGS.SILENT (\\Flagged)") == []
    # Two sessions changing one message do not overwrite each other.
    client.ok("STORE 4 +FLAGS.SILENT (\\Draft)")
    other.ok("STORE 4 +FLAGS.SILENT (\\Answered)")
    client.ok("NOOP")
    assert other.ok("FETCH 4 FLAGS") == [b"* 4 FETCH (FLAGS (\\Answered \\Draft))\r\n"]


def test_a_new_keyword_is_announced_with_flags(running: RunningOperator, client: Client) -> None:
    # RFC 3501 §7.2.6: FLAGS (and PERMANENTFLAGS) again when a keyword appears.
    name = client.folder(MESSAGE, MESSAGE)
    other = second(running, name)
    lines = client.ok("STORE 2 +FLAGS ($$hello)")
    assert lines[0] == (b"* FLAGS ($$hello \\Answered \\Deleted \\Draft \\Flagged \\Seen)\r\n")
    assert lines[1].startswith(b"* OK [PERMANENTFLAGS ($$hello \\Answered ")
    assert lines[2] == b"* 2 FETCH (FLAGS ($$hello \\Recent))\r\n"
    lines = other.ok("NOOP")
    assert lines[0].startswith(b"* FLAGS ($$hello ")
    assert lines[-1] == b"* 2 FETCH (UID 2 FLAGS ($$hello))\r\n"
    # The keyword keeps the spelling the mailbox already knows.
    assert client.ok("STORE 1 +FLAGS ($$HELLO)") == [b"* 1 FETCH (FLAGS ($$hello \\Recent))\r\n"]


def test_unknown_system_flags_are_refused(client: Client) -> None:
    name = client.folder(MESSAGE)
    _, tagged = client.command("STORE 1 +FLAGS (\\Bogus)")
    assert status_of(tagged) == b"BAD"
    _, tagged = client.command(b"APPEND %s (\\Bogus) {4+}\r\nx\r\n\r\n" % name.encode())
    assert status_of(tagged) == b"BAD"
    lines = client.ok(f"SELECT {name}")
    assert b"Bogus" not in b"".join(lines)


def test_unchangedsince_reports_modified(client: Client) -> None:
    # RFC 7162 §3.1.3
    client.folder(MESSAGE, MESSAGE)
    client.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
    line = client.ok("FETCH 1:2 (MODSEQ)")
    modseqs = [int(m) for m in re.findall(rb"MODSEQ \((\d+)\)", b"".join(line))]
    _, tagged = client.command(f"STORE 1:2 (UNCHANGEDSINCE {min(modseqs)}) +FLAGS (\\Flagged)")
    assert tagged.split(b" ", 3)[1:3] == [b"OK", b"[MODIFIED"], tagged
    assert b"[MODIFIED 1]" in tagged
    _, tagged = client.command("UID STORE 1:* (UNCHANGEDSINCE 1) +FLAGS.SILENT (\\Answered)")
    assert b"[MODIFIED 1:2]" in tagged
    lines = client.ok(f"STORE 1 (UNCHANGEDSINCE {10**9}) +FLAGS.SILENT (\\Answered)")
    assert re.fullmatch(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)\r\n", lines[0])  # even when .SILENT


def test_append_flags_date_appenduid_trycreate(client: Client) -> None:
    name = client.folder()
    lines, tagged = client.command(
        b'APPEND %s (\\Seen \\Flagged) "01-Feb-2007 01:02:03 +0200" {%d+}\r\n%s'
        % (name.encode(), len(MESSAGE), MESSAGE)
    )
    assert re.fullmatch(rb"h\d+ OK \[APPENDUID \d+ 1\] .*\r\n", tagged), tagged
    assert lines == [b"* 1 EXISTS\r\n", b"* 1 RECENT\r\n"]  # the selected mailbox grew
    assert client.ok("FETCH 1 (FLAGS INTERNALDATE)") == [
        b'* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent) INTERNALDATE "01-Feb-2007 01:02:03 +0200")'
        b"\r\n"  # the zone given is kept (RFC 3501 §2.3.3)
    ]
    _, tagged = client.command(b"APPEND Nope%s {4+}\r\nx\r\n\r\n" % uuid.uuid4().hex.encode())
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[TRYCREATE]"], tagged


def test_copy_keeps_flags_and_dates_and_gives_copyuid(
    running: RunningOperator, client: Client
) -> None:
    source = client.folder(*[MESSAGE] * 5)
    target = f"T{uuid.uuid4().hex[:8]}"
    client.ok(f"CREATE {target}")
    other = second(running, target)
    client.ok("STORE 1 FLAGS.SILENT (\\Seen)")
    client.ok("STORE 2 FLAGS.SILENT (\\Draft \\Flagged)")
    client.ok("STORE 5 FLAGS.SILENT (\\Flagged $kw1 $kw2)")
    dates = re.findall(rb'INTERNALDATE "[^"]+"', b"".join(client.ok("FETCH 1:5 INTERNALDATE")))
    _, tagged = client.command(f"COPY 1:2,4 {target}")
    assert re.search(rb"OK \[COPYUID \d+ 1:2,4 1:3\]", tagged), tagged
    assert other.ok("NOOP") == [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n"]
    lines = other.ok("FETCH 1:3 (FLAGS INTERNALDATE)")
    assert lines == [
        b"* 1 FETCH (FLAGS (\\Seen \\Recent) " + dates[0] + b")\r\n",
        b"* 2 FETCH (FLAGS (\\Draft \\Flagged \\Recent) " + dates[1] + b")\r\n",
        b"* 3 FETCH (FLAGS (\\Recent) " + dates[3] + b")\r\n",
    ]
    _, tagged = client.command(f"UID COPY 5 {target}")
    assert re.search(rb"OK \[COPYUID \d+ 5 4\]", tagged), tagged
    assert other.ok("NOOP")[:2] == [b"* 4 EXISTS\r\n", b"* 4 RECENT\r\n"]
    lines = other.ok("FETCH 4 (FLAGS)")
    assert lines[-1] == b"* 4 FETCH (FLAGS ($kw1 $kw2 \\Flagged \\Recent))\r\n"
    _, tagged = client.command(f"COPY 1 {source}-missing")
    assert tagged.split(b" ", 3)[1:3] == [b"NO", b"[TRYCREATE]"], tagged


def test_move_sends_copyuid_untagged_before_expunge(client: Client) -> None:
    # RFC 6851 §4.3
    source = client.folder(MESSAGE, MESSAGE, MESSAGE)
    target = f"T{uuid.uuid4().hex[:8]}"
    client.ok(f"CREATE {target}")
    untagged, tagged = client.command(f"MOVE 1 {target}")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 1 1\] .*\r\n", untagged[0]), untagged
    assert untagged[1:] == [b"* 1 EXPUNGE\r\n"]
    assert status_of(tagged) == b"OK"
    untagged, _ = client.command(f"UID MOVE 2 {target}")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 2 2\] .*\r\n", untagged[0]), untagged
    assert untagged[1:] == [b"* 1 EXPUNGE\r\n"]
    # Into the mailbox itself: a new UID, the old number expunged, a new message exists.
    untagged, _ = client.command(f"MOVE 1 {source}")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 3 4\] .*\r\n", untagged[0]), untagged
    assert sorted(untagged[1:]) == sorted(
        [b"* 1 EXPUNGE\r\n", b"* 2 EXISTS\r\n", b"* 2 RECENT\r\n"]
    )
    assert client.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 4)\r\n"]


def test_expunge_numbers_shift_down(running: RunningOperator, client: Client) -> None:
    # RFC 3501 §7.4.1: each EXPUNGE renumbers the following messages at once.
    name = client.folder(*[MESSAGE] * 6)
    other = second(running, name)
    client.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
    expected = [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]
    assert client.ok("EXPUNGE") == expected
    # Not during FETCH, STORE or SEARCH (numbers the client uses); at the next NOOP.
    assert b"EXPUNGE" not in b"".join(other.ok("FETCH 1 FLAGS"))
    assert [line for line in other.ok("NOOP") if b"EXPUNGE" in line] == expected
    assert other.ok("FETCH 1:* UID") == [
        b"* 1 FETCH (UID 1)\r\n",
        b"* 2 FETCH (UID 3)\r\n",
        b"* 3 FETCH (UID 6)\r\n",
    ]
    client.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    assert client.ok("UID EXPUNGE 6") == [b"* 3 EXPUNGE\r\n"]  # UIDPLUS: only the named UIDs
    assert client.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)\r\n", b"* 2 FETCH (UID 3)\r\n"]


def test_pipelined_commands_are_answered_in_order(client: Client) -> None:
    name = f"P{uuid.uuid4().hex[:8]}"
    batch = (
        b"p1 CREATE %(n)s\r\np2 CREATE %(n)s2\r\n"
        b"p3 APPEND %(n)s {4+}\r\nab\r\n\r\n"
        b"p4 STATUS %(n)s (MESSAGES)\r\np5 STATUS %(n)s2 (MESSAGES)\r\n"
        b"p6 SELECT %(n)s\r\np7 FETCH 1 (BODY.PEEK[TEXT])\r\np8 STORE 1 +FLAGS (\\Seen)\r\n"
        b"p9 NOOP\r\n"
    ) % {b"n": name.encode()}
    client.send(batch)
    seen: list[bytes] = []
    while not seen or not seen[-1].startswith(b"p9 "):
        seen.append(client.response())
    tags = [line.split(b" ", 1)[0] for line in seen if line.startswith(b"p")]
    assert tags == [b"p%d" % n for n in range(1, 10)]
    assert all(line.split(b" ")[1] == b"OK" for line in seen if line.startswith(b"p"))
    assert f"* STATUS {name} (MESSAGES 1)\r\n".encode() in seen
    assert f"* STATUS {name}2 (MESSAGES 0)\r\n".encode() in seen
    assert b"* 1 FETCH (BODY[TEXT] {0}\r\n)\r\n" in seen
    assert b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n" in seen


def test_long_uid_sets_are_accepted(client: Client) -> None:
    # mbsync and Thunderbird send UID sets of thousands of ranges.
    client.folder(MESSAGE, MESSAGE, MESSAGE)
    many = ",".join(f"{n}:{n + 2}" for n in range(1, 15_000, 3))
    assert len(many.split(",")) == 5000  # the limit was 1000
    lines = client.ok(f"UID FETCH {many} (FLAGS)")
    assert len(lines) == 3
    _, tagged = client.command(f"UID STORE {many} +FLAGS.SILENT (\\Seen)")
    assert status_of(tagged) == b"OK"


def test_failed_login_at_the_limit_says_no_then_bye(running: RunningOperator) -> None:
    max_bad = running.settings.imap.max_bad_commands
    raw = RawImap(running)
    for n in range(max_bad - 1):
        _, tagged = raw.command(b"GARBAGE%d" % n)
        assert status_of(tagged) == b"BAD"
    raw.send(b'h999 LOGIN "nobody@nowhere.test" "nope"\r\n')
    seen = raw.expect_bye(wait=30)
    assert seen.startswith(b"h999 NO [AUTHENTICATIONFAILED] "), seen
    assert b"\r\n* BYE " in seen
