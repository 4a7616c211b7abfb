"""Payloads of cross-node notifications: compact, bounded, no account in clear, round trips."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbox_store.models import Change, ChangeKind
from mailbox_store.notify_pg import asyncpg_dsn, is_postgres
from mailbox_store.notify_wire import (
    PayloadError,
    account_key,
    decode,
    encode,
    parse_ranges,
    uid_ranges,
)

ACCOUNT = "279035121518989@patient.mssante.fr"
KEY = account_key(ACCOUNT)


def test_a_change_round_trips_without_the_account_in_clear() -> None:
    change = Change(ACCOUNT, 7, ChangeKind.EXPUNGE, (3, 4, 5, 9), 42)
    [payload] = encode("node1", [(KEY, change)])
    assert ACCOUNT not in payload
    assert "279035121518989" not in payload
    message = decode(payload)
    assert message.node == "node1"
    [remote] = message.changes
    assert remote.key == KEY
    assert remote.for_account(ACCOUNT) == change
    assert '"3:5,9"' in payload


def test_signals_and_resync_travel_alone() -> None:
    [payload] = encode("n", [], signals=["queue", "filing", "queue"], resync=True)
    message = decode(payload)
    assert message.signals == ("filing", "queue")
    assert message.resync
    assert message.changes == ()
    assert encode("n", []) == []


def test_the_keyed_digest_depends_on_the_secret() -> None:
    assert account_key(ACCOUNT, b"secret") != KEY
    assert len(KEY) == 16


def test_many_changes_are_packed_under_the_limit_in_order() -> None:
    changes = [(KEY, Change(ACCOUNT, 1, ChangeKind.EXISTS, (uid,), uid)) for uid in range(1, 2001)]
    payloads = encode("n", changes, signals=["queue"])
    assert len(payloads) > 1
    assert all(len(p.encode()) <= 7900 for p in payloads)
    received = [c for p in payloads for c in decode(p).changes]
    assert [c.uids for c in received] == [(uid,) for uid in range(1, 2001)]
    assert [decode(p).signals for p in payloads[:2]] == [("queue",), ()]  # once, in the first


def test_a_huge_uid_set_is_split_into_changes_of_the_same_kind() -> None:
    uids = tuple(range(1, 60_000, 2))  # no two adjacent: no range compresses them
    payloads = encode("n", [(KEY, Change(ACCOUNT, 3, ChangeKind.FLAGS, uids, 99))])
    assert len(payloads) > 10
    assert all(len(p.encode()) < 8000 for p in payloads)
    received = [c for p in payloads for c in decode(p).changes]
    assert {c.kind for c in received} == {ChangeKind.FLAGS}
    assert {c.modseq for c in received} == {99}
    assert tuple(u for c in received for u in c.uids) == uids


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not json",
        "[]",
        '{"v":2,"n":"x"}',
        '{"v":1}',
        '{"v":1,"n":"x","c":[["k",1,"?","1",1]]}',
        '{"v":1,"n":"x","c":[["k",1,"e","5:1",1]]}',
        '{"v":1,"n":"x","c":[["k",1,"e","1:99999999999",1]]}',
        '{"v":1,"n":"x","c":[["k","1","e","1",1]]}',
        '{"v":1,"n":"x","s":[1]}',
    ],
)
def test_unreadable_payloads_raise_the_one_error(payload: str) -> None:
    with pytest.raises(PayloadError):
        decode(payload)


@given(st.text(max_size=200))
def test_any_text_decodes_or_raises_payload_error(payload: str) -> None:
    with contextlib.suppress(PayloadError):
        decode(payload)


@given(st.sets(st.integers(min_value=1, max_value=5000), max_size=300))
def test_uid_ranges_round_trip(uids: set[int]) -> None:
    assert parse_ranges(uid_ranges(uids)) == tuple(sorted(uids))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(ChangeKind)),
            st.integers(min_value=1, max_value=2**31),
            st.sets(st.integers(min_value=1, max_value=100_000), max_size=50),
            st.integers(min_value=0, max_value=2**62),
        ),
        max_size=40,
    ),
    st.integers(min_value=200, max_value=7900),
)
def test_changes_round_trip_under_any_limit(
    items: list[tuple[ChangeKind, int, set[int], int]], limit: int
) -> None:
    changes = [(KEY, Change(ACCOUNT, f, k, tuple(sorted(u)), m)) for k, f, u, m in items]
    payloads = encode("node", changes, limit=limit)
    assert all(len(p.encode()) <= limit for p in payloads)
    assert all(json.loads(p)["n"] == "node" for p in payloads)
    received = [c for p in payloads for c in decode(p).changes]
    merged: dict[tuple[int, ChangeKind, int], list[int]] = {}
    for remote in received:
        merged.setdefault((remote.folder_id, remote.kind, remote.modseq), []).extend(remote.uids)
    expected: dict[tuple[int, ChangeKind, int], list[int]] = {}
    for _, change in changes:
        key = (change.folder_id, change.kind, change.modseq)
        expected.setdefault(key, []).extend(change.uids)
    assert {k: sorted(v) for k, v in merged.items()} == {k: sorted(v) for k, v in expected.items()}


def test_the_listen_connection_gets_the_database_url_without_dialect_options() -> None:
    url = "postgresql+asyncpg://mss:p%40ss@db:5432/mss?prepared_statement_cache_size=0&ssl=require"
    assert asyncpg_dsn(url) == "postgresql://mss:p%40ss@db:5432/mss?ssl=require"
    assert is_postgres(url)
    assert not is_postgres("sqlite+aiosqlite:///data/mss.db")
