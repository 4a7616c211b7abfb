"""The in-memory SEARCH index of header fields (``mss.imap.search_index``): it finds what the
field-by-field matching of ``search_text`` finds, grows by segments, and the cache stays within
its byte budget."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from mss.imap import search_index as si
from mss.imap import search_text as t


def header(n: int) -> bytes:
    subject = "=?utf-8?q?R=C3=A9sultat?= labo" if n % 7 == 0 else f"Compte rendu {n}"
    return (
        f"From: Dr {n % 5} <dr{n % 5}@chu.fr>\r\nTo: <bal@x.fr>\r\nSubject: {subject}\r\n"
        f"Date: {1 + n % 28} Feb 2024 10:00 +0100\r\nMessage-ID: <{n}@chu.fr>\r\n\r\n"
    ).encode()


ALL = frozenset({*si.INDEXED, si.DATE})


def index_of(count: int, step: int = 1000, fields: frozenset[str] = ALL) -> si.FolderIndex:
    index = si.FolderIndex(7)
    index.add_columns([], fields)
    batch = [(uid, header(uid)) for uid in range(1, count + 1)]
    for at in range(0, count, step):
        index.publish(si.parse(batch[at : at + step], index.built()))
    return index


def test_matching_and_presence() -> None:
    index = index_of(100)
    assert index.matching("from", "dr3@chu.fr") == {u for u in range(1, 101) if u % 5 == 3}
    assert index.matching("subject", t.fold("RÉSULTAT")) == {u for u in range(1, 101) if u % 7 == 0}
    assert index.matching("message-id", "<42@") == {42}
    assert index.matching("cc", "") == set()  # no message has the field
    assert index.matching("to", "") == set(range(1, 101))
    assert index.matching("subject", "\x00") == set()
    assert index.sent_days()[3] == date(2024, 2, 4).toordinal()


def test_columns_are_built_when_first_needed() -> None:
    index = index_of(20, step=7, fields=frozenset({"subject"}))
    assert index.built() == {"subject"}
    present = [(u, header(u)) for u in range(1, 21) if u not in (3, 20)]  # 3, 20 expunged
    parts = [
        si.parse(present[:10], frozenset({"from", si.DATE})),
        si.parse(present[10:], frozenset({"from", si.DATE})),
    ]
    index.add_columns(parts, frozenset({"from", si.DATE}))
    assert index.built() == {"subject", "from", si.DATE}
    assert index.matching("from", "dr2@") == {2, 7, 12, 17}
    assert 3 not in index.sent_days()
    assert index.sent_days()[4] == date(2024, 2, 5).toordinal()
    index.publish(si.parse([(21, header(21))], index.built()))
    assert index.matching("from", "dr1@") == {1, 6, 11, 16, 21}
    assert index.matching("subject", t.fold("RÉSULTAT")) == {7, 14, 21}


def test_segments_grow_one_message_at_a_time() -> None:
    index = si.FolderIndex(1)
    index.add_columns([], ALL)
    for uid in range(1, si.SEGMENT + 10):
        index.publish(si.parse([(uid, header(uid))], ALL))
    index.publish(si.parse([(5, header(5))], ALL))  # already indexed: ignored
    assert len(index.uids) == si.SEGMENT + 9
    assert [len(s.starts) for s in index.columns["subject"]] == [si.SEGMENT, 9]
    assert index.matching("message-id", f"<{si.SEGMENT + 3}@") == {si.SEGMENT + 3}
    assert index.matching("from", "dr1@") == {u for u in index.uids if u % 5 == 1}


def test_repeated_fields_and_slow_values() -> None:
    found, day = si.entries(
        b"To: a@x.fr\r\nTo: <b (bureau)@ y.fr>\r\nSubject: deux\r\n  lignes \r\n"
        b"Date: garbage\r\n\r\n"
    )
    assert found["to"] == si.PRESENT + "a@x.fr" + si.SEP + "<b@y.fr> bureau"
    assert found["subject"] == si.PRESENT + "deux  lignes"
    assert day == 0


def test_cache_keeps_to_its_budget_least_recently_used_first() -> None:
    one = index_of(50).cost()
    cache = si.IndexCache(max_bytes=int(one * 2.5))
    for folder in (1, 2, 3):
        index = cache.get("bal@x.fr", folder, 7)
        index.add_columns([], ALL)
        index.publish(si.parse([(u, header(u)) for u in range(1, 51)], ALL))
        cache.get("bal@x.fr", 1, 7)  # folder 1 stays in use
        cache.trim()
    assert cache.peek("bal@x.fr", 1, 7) is not None
    assert cache.peek("bal@x.fr", 2, 7) is None
    assert cache.peek("bal@x.fr", 3, 7) is not None
    assert cache.peek("bal@x.fr", 3, 8) is None  # another UIDVALIDITY
    assert not cache.get("bal@x.fr", 3, 8).uids  # a new, empty index
    assert cache.peek("autre@x.fr", 1, 7) is None  # per account


def test_a_lone_index_too_big_is_dropped() -> None:
    cache = si.IndexCache(max_bytes=100)
    index = cache.get("bal@x.fr", 1, 7)
    index.add_columns([], ALL)
    index.publish(si.parse([(1, header(1)), (2, header(2))], ALL))
    cache.trim()
    assert len(cache) == 0


def test_one_cache_per_store() -> None:
    class Store:
        pass

    first, second = Store(), Store()
    assert si.cache_of(first, 10) is si.cache_of(first, 10)
    assert si.cache_of(first, 10) is not si.cache_of(second, 10)


_PIECES = st.sampled_from([*'abcAB @.<>()",;:=?é\t\\', "\r\n ", "=?utf-8?q?", "?="])
_FIELD_TEXT = st.lists(_PIECES, max_size=20).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(_FIELD_TEXT, min_size=1, max_size=6), _FIELD_TEXT)
def test_index_agrees_with_field_matching(values: list[str], needle_text: str) -> None:
    name = "from" if len(values) % 2 else "subject"
    headers = [(uid, f"{name}: {v}\r\n\r\n".encode()) for uid, v in enumerate(values, 1)]
    headers = [(uid, h) for uid, h in headers if not h.startswith(f"{name}: \r\n ".encode())]
    index = si.FolderIndex(1)
    index.add_columns([], ALL)
    index.publish(si.parse(headers, ALL))
    needle = t.fold(needle_text.strip())
    expected = {uid for uid, h in headers if t.header_matches(h, name, needle)}
    assert index.matching(name, needle) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_any_header_bytes_index_without_error(sections: list[bytes]) -> None:
    batch = [(uid, b"Subject: " + data) for uid, data in enumerate(sections, 1)]
    parsed = si.parse(batch, ALL)
    assert all(len(column) == len(batch) for column in parsed.values.values())
    index = si.FolderIndex(1)
    index.add_columns([], ALL)
    index.publish(parsed)
    assert index.matching("subject", "") == set(range(1, len(batch) + 1))
