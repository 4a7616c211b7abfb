"""The encoding of saved SEARCH index columns (``mss.imap.search_persist``): round trips, a
bad or foreign encoding refused (the column is then rebuilt, never misread), expunged messages
left out of a save, and when a column is due for saving."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from mss.imap import search_index as si
from mss.imap import search_persist as sp

_TEXT = st.text(st.characters(blacklist_characters=si.END), max_size=30)


@given(st.lists(st.tuples(st.integers(1, 2**40), _TEXT), max_size=50))
def test_text_column_round_trip(entries: list[tuple[int, str]]) -> None:
    uids = sorted({uid for uid, _ in entries})
    texts = [text for _, text in entries][: len(uids)]
    uids = uids[: len(texts)]
    part = sp.decode("subject", sp.encode("subject", uids, texts))
    assert part == si.Parsed(uids, None, {"subject": texts})


@given(st.lists(st.integers(0, 800_000), max_size=50))
def test_days_column_round_trip(days: list[int]) -> None:
    uids = list(range(1, len(days) + 1))
    part = sp.decode(si.DATE, sp.encode(si.DATE, uids, days))
    assert part == si.Parsed(uids, days, {})


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_none(data: bytes) -> None:
    assert sp.decode("subject", data) is None or isinstance(sp.decode("subject", data), si.Parsed)


def test_foreign_or_truncated_encodings_refused() -> None:
    good = sp.encode("from", [1, 2], ["\x01a@b", ""])
    assert sp.decode("from", good) is not None
    assert sp.decode(si.DATE, good) is None  # a text column is not a DATE column
    assert sp.decode("from", good[:-1]) is None  # the last entry lost its end
    assert sp.decode("from", bytes([9]) + good[1:]) is None  # another version
    assert sp.decode("from", good[:5]) is None
    assert sp.decode("from", good.replace(b"a@b", b"\xff@b")) is None  # not UTF-8


def test_saved_column_leaves_out_expunged_messages() -> None:
    values = [f"\x01s{n}" for n in range(6)]
    joined = [si.END.join(values[:4]) + si.END, si.END.join(values[4:]) + si.END]
    present = {1, 2, 4, 6, 7}  # 3 and 5 expunged; 7, above every UID indexed, is kept
    max_uid, data = sp._encode_captured("subject", array("q", [1, 2, 3, 4, 5, 6]), joined, present)
    assert max_uid == 6
    assert sp.decode("subject", data) == si.Parsed(
        [1, 2, 4, 6], None, {"subject": ["\x01s0", "\x01s1", "\x01s3", "\x01s5"]}
    )


def test_due_after_enough_new_messages() -> None:
    index = si.FolderIndex(1)
    index.uids.extend(range(1, 601))
    index.add_columns([], frozenset({"subject"}))
    assert sp.due(index) == ["subject"]  # built, never saved: 600 >= SAVE_MIN
    index.saved["subject"] = 600
    assert sp.due(index) == []
    index.uids.extend(range(601, 611))
    assert sp.due(index) == []
    assert sp.due(index, every=10) == ["subject"]
    assert sp.due(index, every=0) == []  # never saved
