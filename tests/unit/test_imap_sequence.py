"""IMAP sequence sets: parsing, lazy resolution, rendering, caps."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mss.wire.imap.errors import ImapSyntaxError
from mss.wire.imap.sequence import (
    MAX_NUMBER,
    SeqRange,
    SequenceSet,
    parse_sequence_set,
)


def _values(text: str, max_value: int) -> list[int]:
    return list(parse_sequence_set(text).iter_values(max_value))


@pytest.mark.parametrize(
    ("text", "max_value", "expected"),
    [
        ("1", 5, [1]),
        ("1:*", 5, [1, 2, 3, 4, 5]),
        ("*", 5, [5]),
        ("*:3", 5, [3, 4, 5]),
        ("2,4:7,9", 10, [2, 4, 5, 6, 7, 9]),
        ("7:4", 10, [4, 5, 6, 7]),
        ("3,1,2,2:3", 10, [1, 2, 3]),
        ("1:*", 0, []),
        ("8:*", 5, [5]),  # RFC 3501 §6.4.8: n:* with n > max still includes the largest
        ("6:9", 5, []),
    ],
)
def test_resolution(text: str, max_value: int, expected: list[int]) -> None:
    assert _values(text, max_value) == expected


def test_resolve_merges_ranges() -> None:
    ranges = parse_sequence_set("1:3,4,6:8,7:10").resolve(100)
    assert ranges == (range(1, 5), range(6, 11))


def test_huge_set_is_cheap() -> None:
    started = time.perf_counter()
    seq = parse_sequence_set("1:4294967295")
    ranges = seq.resolve(MAX_NUMBER)
    assert ranges == (range(1, MAX_NUMBER + 1),)
    assert seq.contains(123456789, MAX_NUMBER)
    assert not seq.contains(0, MAX_NUMBER)
    assert time.perf_counter() - started < 0.1


def test_rendering_keeps_the_client_spelling() -> None:
    assert parse_sequence_set("2,4:7,*:3,9,*").render() == "2,4:7,*:3,9,*"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0",
        "01",
        "1:",
        ":1",
        "1::2",
        "a",
        "1,,2",
        "4294967296",
        "1:4294967296",
        "-1",
        "1 2",
        "１",
    ],
)
def test_bad_sets_are_the_syntax_error(bad: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_sequence_set(bad)


def test_cap_on_number_of_ranges() -> None:
    text = ",".join(str(n) for n in range(1, 1002))
    with pytest.raises(ImapSyntaxError):
        parse_sequence_set(text)
    assert len(parse_sequence_set(text, max_ranges=2000).ranges) == 1001


def test_highest_number_and_star() -> None:
    seq = parse_sequence_set("3:*,17")
    assert seq.highest_number() == 17
    assert seq.uses_star()
    assert not parse_sequence_set("1:2").uses_star()


_bound = st.one_of(st.none(), st.integers(min_value=1, max_value=MAX_NUMBER))


@st.composite
def _sets(draw: st.DrawFn) -> SequenceSet:
    items = draw(st.lists(st.tuples(_bound, _bound), min_size=1, max_size=20))
    return SequenceSet(tuple(SeqRange(a, b) for a, b in items))


@given(_sets())
def test_round_trip(seq: SequenceSet) -> None:
    assert parse_sequence_set(seq.render()) == seq


@given(_sets(), st.integers(min_value=0, max_value=200))
def test_resolution_matches_a_naive_model(seq: SequenceSet, max_value: int) -> None:
    small = SequenceSet(
        tuple(
            SeqRange(
                None if r.start is None else r.start % 300 + 1,
                None if r.stop is None else r.stop % 300 + 1,
            )
            for r in seq.ranges
        )
    )
    expected: set[int] = set()
    for item in small.ranges:
        if max_value == 0:
            break
        lo, hi = item.bounds(max_value)
        expected.update(range(max(lo, 1), min(hi, max_value) + 1))
    assert list(small.iter_values(max_value)) == sorted(expected)


@given(st.text(max_size=50))
def test_any_text_gives_a_set_or_the_error(text: str) -> None:
    try:
        seq = parse_sequence_set(text)
    except ImapSyntaxError:
        return
    assert parse_sequence_set(seq.render()) == seq
