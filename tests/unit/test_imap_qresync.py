"""QRESYNC pure parts (RFC 7162 §3.2): the SELECT parameter parser, UID-range compression, the
missing-UID computation and the seq-match-data check. The protocol rules are proven over real
sockets in tests/protocol/test_imap_qresync.py."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbox_store.models import Folder, FolderSummary
from mss.imap.qresync import drop_through, known_prefix, missing_spans, vanished_since
from mss.wire.imap import command as c
from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.lexer import LiteralRequest
from mss.wire.imap.parser import parse_command
from mss.wire.imap.qresync import QresyncParams, render_spans, uid_spans, vanished
from mss.wire.imap.response import render
from mss.wire.imap.sequence import parse_sequence_set

uid_lists = st.lists(st.integers(1, 300), max_size=120)


def select(line: str) -> c.Select:
    result = parse_command(line.encode() + b"\r\n")
    assert isinstance(result, c.Select)
    return result


# -- UID-range compression ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uids", "text"),
    [
        ([], ""),
        ([5], "5"),
        ([1, 2, 3, 7, 9, 10], "1:3,7,9:10"),
        ([10, 9, 1, 3, 2, 7, 7], "1:3,7,9:10"),  # any order, duplicates
        ([4, 6, 8], "4,6,8"),
        ([1, 2], "1:2"),
        ([4294967294, 4294967295], "4294967294:4294967295"),
    ],
)
def test_uid_spans_table(uids: list[int], text: str) -> None:
    assert render_spans(uid_spans(uids)) == text


@given(uid_lists.filter(bool))
def test_uid_spans_round_trip_through_the_sequence_set_parser(uids: list[int]) -> None:
    spans = uid_spans(uids)
    parsed = parse_sequence_set(render_spans(spans), max_ranges=len(spans))
    assert list(parsed.iter_values(max(uids))) == sorted(set(uids))
    # Maximal runs: ascending, and never touching (else they would be one run).
    assert all(lo <= hi for lo, hi in spans)
    assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(spans))


def test_vanished_responses_are_split_into_lines() -> None:
    spans = uid_spans(range(1, 5001, 2))  # 2,500 single UIDs
    lines = [render(r) for r in vanished(spans, earlier=True)]
    assert len(lines) == 3
    assert all(line.startswith(b"* VANISHED (EARLIER) ") for line in lines)
    values = [int(u) for line in lines for u in line.split()[3].split(b",")]
    assert values == list(range(1, 5001, 2))
    assert vanished([]) == []
    assert render(vanished([(3, 3), (5, 9)])[0]) == b"* VANISHED 3,5:9\r\n"


# -- missing UIDs ---------------------------------------------------------------------------


@given(uid_lists, st.lists(st.tuples(st.integers(1, 320), st.integers(0, 40)), max_size=6))
def test_missing_spans_is_the_set_difference(
    present: list[int], parts: list[tuple[int, int]]
) -> None:
    text = ",".join(f"{lo}:{lo + width}" for lo, width in parts) or "1:320"
    wanted = parse_sequence_set(text).resolve(320)
    got = missing_spans(sorted(set(present)), wanted)
    expected = {u for span in wanted for u in span} - set(present)
    assert [u for lo, hi in got for u in range(lo, hi + 1)] == sorted(expected)
    assert got == uid_spans(expected)  # already compressed into maximal runs


def test_drop_through() -> None:
    assert drop_through([(1, 3), (5, 9), (12, 12)], 6) == [(7, 9), (12, 12)]
    assert drop_through([(1, 3)], 0) == [(1, 3)]
    assert drop_through([(1, 3)], 3) == []


@pytest.mark.parametrize(
    ("matches", "agreed"),
    [
        (((1, 1), (3, 4), (9, 10)), 4),  # 9 -> 10 no longer holds (8 messages)
        (((1, 1), (3, 4), (8, 10)), 10),
        (((1, 2),), 0),  # the first pair differs already
        (((2, 2), (3, 3)), 2),  # 3 is UID 4 now
        ((), 0),
    ],
)
def test_known_prefix(matches: tuple[tuple[int, int], ...], agreed: int) -> None:
    present = [1, 2, 4, 5, 6, 8, 9, 10]
    assert known_prefix(present, matches) == agreed


def summary(uids: list[int], uidnext: int, modseq: int) -> FolderSummary:
    folder = Folder(1, "a@b.fr", "INBOX", None, 7, uidnext, modseq)
    return FolderSummary(folder, uids, 0, None, frozenset())


def test_vanished_since() -> None:
    snap = summary([1, 2, 4, 5, 6, 8, 9, 10], uidnext=13, modseq=50)
    assert vanished_since(snap, QresyncParams(7, 50)) == []  # nothing changed at all
    assert vanished_since(snap, QresyncParams(7, 60)) == []
    assert vanished_since(snap, QresyncParams(7, 10)) == [(3, 3), (7, 7), (11, 12)]
    known = parse_sequence_set("5:9,100:200")
    assert vanished_since(snap, QresyncParams(7, 10, known)) == [(7, 7)]
    assert vanished_since(snap, QresyncParams(7, 10, None, ((1, 1), (3, 4)))) == [(7, 7), (11, 12)]
    assert vanished_since(summary([], uidnext=1, modseq=2), QresyncParams(7, 1)) == []


# -- the SELECT parameter -------------------------------------------------------------------


def test_select_qresync_examples_of_rfc_7162() -> None:
    cmd = select("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert cmd.qresync == QresyncParams(
        67890007, 20050715194045000, parse_sequence_set("41,43:211,214:541")
    )
    assert not cmd.condstore
    cmd = select(
        "B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 "
        "(1:20,22,24 41:60,62,64)))"
    )
    assert cmd.qresync is not None
    assert cmd.qresync.matches == ((1, 41), (20, 60), (22, 62), (24, 64))
    cmd = select("a EXAMINE box (CONDSTORE QRESYNC (1 2 (1,3,9 1,4,10)))")
    assert cmd.readonly
    assert cmd.condstore
    assert cmd.qresync == QresyncParams(1, 2, None, ((1, 1), (3, 4), (9, 10)))
    assert select("a SELECT INBOX ()") == c.Select("a", "INBOX")
    assert select("a SELECT INBOX (condstore)").condstore


@pytest.mark.parametrize(
    "params",
    [
        "(QRESYNC (0 5))",
        "(QRESYNC (7 0))",
        "(QRESYNC (7 5 1:*))",
        "(QRESYNC (7 5 (1:3 1:2)))",
        "(QRESYNC (7 5 (3,1 1,3)))",
        "(QRESYNC (7 5 (1:2 2:1)))",
        "(QRESYNC (7 5 (1,2 1:*)))",
        "(QRESYNC (7 5) QRESYNC (7 5))",
        "(CONDSTORE CONDSTORE)",
        "(QRESYNC (7))",
        "(QRESYNC 7 5)",
        "(QRESYNC (7 5 1:3 (1 1) x))",
        "(QRESYNC (7 9223372036854775808))",
        "(X-UNKNOWN)",
    ],
)
def test_malformed_select_parameters(params: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_command(f"t SELECT INBOX {params}\r\n".encode())


@given(st.binary(max_size=60))
def test_any_bytes_after_select_give_a_command_or_the_syntax_error(tail: bytes) -> None:
    try:
        result = parse_command(b"t SELECT INBOX (QRESYNC (" + tail + b"\r\n")
    except ImapSyntaxError:
        return
    assert isinstance(result, c.Select | LiteralRequest)
