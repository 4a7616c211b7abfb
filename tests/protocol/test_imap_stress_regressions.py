"""Concurrency bugs the stress checker (bench/imap_stress.py) found, each replayed with two
sessions on one mailbox over real sockets (issue 3, "correct concurrency").

- A keyword another session brought in was shown in a FETCH (of FLAGS, or the answer of a STORE)
  before this session's ``* FLAGS`` listed it (RFC 3501 §7.2.6: FLAGS names the flags of the
  mailbox; imaptest: "Keyword used without being in FLAGS").
- COPY / MOVE of messages another session had just expunged answered ``[COPYUID v  ]`` with
  empty UID sets, which the grammar does not allow (RFC 4315 §3: uid-set is 1*).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.test_imap_hostile import RawImap

DOCTOR = {"rpps": "10001234567"}


@pytest.fixture(autouse=True)
def closed_after() -> Iterator[None]:
    yield
    RawImap.close_all()


def two_sessions(running: RunningOperator) -> tuple[RawImap, RawImap, str]:
    """Sessions A and B with a fresh mailbox of one message selected in both."""
    a = RawImap(running).login(**DOCTOR)
    b = RawImap(running).login(**DOCTOR)
    name = f"R{uuid.uuid4().hex[:8]}"
    a.ok(f'CREATE "{name}"')
    a.ok(f'CREATE "{name}-other"')
    body = b"From: <a@b.fr>\r\nSubject: r\r\n\r\nhello\r\n"
    a.ok(f'APPEND "{name}" {{{len(body)}+}}\r\n'.encode() + body)
    for session in (a, b):
        session.ok(f'SELECT "{name}"')
        session.ok("FETCH 1 (UID FLAGS)")
    return a, b, name


def announced_before_shown(lines: list[bytes], keyword: bytes) -> None:
    """Every FETCH showing ``keyword`` comes after a ``* FLAGS`` that lists it."""
    announced = False
    for line in lines:
        if line.startswith(b"* FLAGS ") and keyword in line.split(b"(", 1)[1]:
            announced = True
        if re.match(rb"\* \d+ FETCH ", line) and keyword in line:
            assert announced, f"{keyword!r} shown before * FLAGS listed it: {lines!r}"
    assert any(re.match(rb"\* \d+ FETCH ", line) and keyword in line for line in lines), lines


def test_fetch_announces_a_keyword_set_by_another_session(running: RunningOperator) -> None:
    a, b, _ = two_sessions(running)
    b.ok("STORE 1 +FLAGS ($FromB)")
    announced_before_shown(a.ok("FETCH 1 (FLAGS)"), b"$FromB")


def test_store_announces_a_keyword_set_by_another_session(running: RunningOperator) -> None:
    a, b, _ = two_sessions(running)
    b.ok("STORE 1 +FLAGS ($AlsoB)")
    announced_before_shown(a.ok("STORE 1 +FLAGS (\\Flagged)"), b"$AlsoB")


@pytest.mark.parametrize("verb", ["COPY", "MOVE", "UID COPY", "UID MOVE"])
def test_copy_of_messages_expunged_elsewhere_gives_no_empty_copyuid(
    running: RunningOperator, verb: str
) -> None:
    a, b, name = two_sessions(running)
    b.ok("STORE 1 +FLAGS (\\Deleted)")
    b.ok("EXPUNGE")
    number = "1"
    if verb.startswith("UID"):
        fetched = a.ok("FETCH 1 (UID)")
        found = re.search(rb"UID (\d+)", b"".join(fetched))
        assert found is not None, fetched
        number = found.group(1).decode()
    untagged, tagged = a.command(f'{verb} {number} "{name}-other"')
    assert tagged.split(b" ", 2)[1] == b"OK", tagged
    for line in [*untagged, tagged]:
        assert not re.search(rb"\[COPYUID \d+ *\]|\[COPYUID \d+ +\S+ *\]", line), line
    assert b"COPYUID" not in b"".join([*untagged, tagged])  # nothing was copied
    assert b"* 1 EXPUNGE\r\n" in [*untagged, *a.ok("NOOP")]  # reported after COPY at the latest
