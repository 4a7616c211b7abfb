"""The encoding of saved SELECT summaries (``mailbox_store.summary_store``): any ascending UIDs
and flag texts come back as they were; anything else is refused, never misread."""

from __future__ import annotations

import zlib
from array import array

from hypothesis import given
from hypothesis import strategies as st

from mailbox_store.summary_cache import FolderEntry
from mailbox_store.summary_store import decode, encode

FLAG_TEXTS = st.sampled_from(["", "\\Seen", "$Urgent \\Seen", "\\Deleted \\Flagged", "$K1"])


@given(st.sets(st.integers(1, 2**32 - 1), max_size=300), st.data())
def test_round_trip(uid_set: set[int], data: st.DataObject) -> None:
    uids = array("q", sorted(uid_set))
    texts = data.draw(st.lists(FLAG_TEXTS, min_size=len(uids), max_size=len(uids)))
    decoded = decode(encode(uids, texts))
    assert decoded is not None
    back, runs = decoded
    assert back == uids
    entry = FolderEntry.from_runs(1, 1, back, runs)
    assert (list(entry.uids), entry.flags) == (list(uids), texts)
    assert [(text, n) for text, n in runs if n <= 0] == []


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_none_or_a_consistent_state(data: bytes) -> None:
    for candidate in (data, zlib.compress(data)):
        decoded = decode(candidate)
        if decoded is not None:
            uids, runs = decoded
            assert sum(n for _, n in runs) == len(uids)


def test_a_truncated_or_foreign_state_is_refused() -> None:
    good = encode(array("q", [1, 2, 5]), ["", "\\Seen", "\\Seen"])
    raw = zlib.decompress(good)
    assert decode(zlib.compress(raw[:-1])) is None
    assert decode(zlib.compress(b"\x09" + raw[1:])) is None  # another version
    assert decode(b"not zlib") is None


def test_a_large_folder_is_a_few_kilobytes() -> None:
    uids = array("q", (n for n in range(1, 120_001) if n % 6))
    texts = ["\\Seen" if n < 60_000 else "" for n in range(len(uids))]
    assert len(encode(uids, texts)) < 30_000
