"""The PostgreSQL change hub (LISTEN/NOTIFY): two hubs on one database stand for two nodes.

Changes and signals cross from one node to the other, never back to their sender; big changes
are split under PostgreSQL's 8000-byte payload limit; a dropped LISTEN connection is reopened
and the subscribers told to resynchronise; what was published meanwhile is sent afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from mailbox_store.models import Change, ChangeKind
from mailbox_store.notify import RESYNC_FOLDER, ChangeSubscription
from mailbox_store.notify_pg import PgChangeHub, asyncpg_dsn, is_postgres
from tests.conftest import pg_url

pytestmark = pytest.mark.postgres

ALICE = "dr.martin@hopital-demo.mssante.fr"
BOB = "secretariat@hopital-demo.mssante.fr"


@pytest.fixture
def dsn() -> str:
    url = pg_url()
    if not url:
        pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
    assert is_postgres(url)
    return asyncpg_dsn(url)


@pytest.fixture
def channel() -> str:
    return f"mss_test_{secrets.token_hex(4)}"  # tests never hear each other


@pytest.fixture
async def nodes(dsn: str, channel: str) -> AsyncIterator[tuple[PgChangeHub, PgChangeHub]]:
    a = PgChangeHub(dsn, channel=channel, reconnect_min=0.01, reconnect_max=0.2)
    b = PgChangeHub(dsn, channel=channel, reconnect_min=0.01, reconnect_max=0.2)
    for hub in (a, b):
        await hub.start()
    for hub in (a, b):
        await asyncio.wait_for(hub.connected.wait(), 10)
    yield a, b
    for hub in (a, b):
        await hub.close()


async def take(subscription: ChangeSubscription, count: int = 1) -> list[Change]:
    async def collect() -> list[Change]:
        return [await anext(subscription) for _ in range(count)]

    return await asyncio.wait_for(collect(), 5)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def terminate(dsn: str, pid: int | None) -> None:
    assert pid is not None
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_a_change_on_one_node_reaches_the_other_nodes_subscribers(
    nodes: tuple[PgChangeHub, PgChangeHub],
) -> None:
    a, b = nodes
    on_a, on_b, bob_on_a = a.subscribe(ALICE), b.subscribe(ALICE), a.subscribe(BOB)
    change = Change(ALICE, 4, ChangeKind.EXISTS, (17,), 33)
    b.publish(change)
    assert await take(on_a) == [change]
    assert await take(on_b) == [change]  # its own subscribers, once (no echo)
    a.publish(Change(ALICE, 4, ChangeKind.FLAGS, (17,), 34))
    assert [c.kind for c in await take(on_b)] == [ChangeKind.FLAGS]
    assert [c.kind for c in await take(on_a)] == [ChangeKind.FLAGS]
    await asyncio.sleep(0.2)
    assert on_a.pending() == on_b.pending() == bob_on_a.pending() == 0
    assert not on_a.take_overflow()


async def test_changes_arrive_in_publish_order(nodes: tuple[PgChangeHub, PgChangeHub]) -> None:
    a, b = nodes
    on_a = a.subscribe(ALICE)
    for uid in range(1, 301):
        b.publish(Change(ALICE, 1, ChangeKind.EXISTS, (uid,), uid))
    assert [c.uids[0] for c in await take(on_a, 300)] == list(range(1, 301))


async def test_a_huge_change_is_split_under_the_payload_limit(
    nodes: tuple[PgChangeHub, PgChangeHub],
) -> None:
    """PostgreSQL refuses a payload of 8000 bytes or more: a flag change on 20,000 scattered
    messages goes out in several payloads, and every UID arrives."""
    a, b = nodes
    on_a = a.subscribe(ALICE)
    uids = tuple(range(1, 40_000, 2))
    b.publish(Change(ALICE, 2, ChangeKind.FLAGS, uids, 50))
    b.publish(Change(ALICE, 2, ChangeKind.EXISTS, (40_001,), 51))
    got: list[Change] = []
    while not got or got[-1].kind is not ChangeKind.EXISTS:
        got += await take(on_a)
    assert tuple(u for c in got[:-1] for u in c.uids) == uids
    assert len(got) > 2


async def test_signals_wake_the_other_nodes_only(nodes: tuple[PgChangeHub, PgChangeHub]) -> None:
    a, b = nodes
    heard: dict[str, list[str]] = {"a": [], "b": []}
    a.on_signal("queue", lambda: heard["a"].append("queue"))
    b.on_signal("queue", lambda: heard["b"].append("queue"))
    a.on_signal("filing", lambda: heard["a"].append("filing"))
    b.signal("queue")
    b.signal("queue")  # coalesced with the first when sent together
    await until(lambda: "queue" in heard["a"])
    b.signal("filing")
    await until(lambda: "filing" in heard["a"])
    await asyncio.sleep(0.1)
    assert heard["b"] == []
    assert 1 <= heard["a"].count("queue") <= 2


async def test_a_dropped_listen_connection_is_reopened_and_subscribers_resync(
    nodes: tuple[PgChangeHub, PgChangeHub], dsn: str
) -> None:
    a, b = nodes
    on_a = a.subscribe(ALICE)
    woken: list[str] = []
    a.on_signal("queue", lambda: woken.append("queue"))
    first_pid = a.server_pid
    await terminate(dsn, first_pid)
    [wake_up] = await take(on_a)  # the session's reader is woken ...
    assert wake_up.folder_id == RESYNC_FOLDER
    assert on_a.take_overflow()  # ... and told to re-read the folder
    assert woken == ["queue"]  # workers re-check their queue too
    assert a.connects == 2
    assert a.server_pid != first_pid
    change = Change(ALICE, 4, ChangeKind.EXISTS, (18,), 35)
    b.publish(change)
    assert await take(on_a) == [change]


async def test_changes_published_while_disconnected_are_sent_after_reconnecting(
    dsn: str, channel: str
) -> None:
    """B's reconnection waits at a gate, so the changes are published while it is down for sure
    (with a free reconnection it may be back before a poll sees it gone)."""
    gate = asyncio.Event()
    gate.set()

    async def gated() -> Any:
        await gate.wait()
        return await asyncpg.connect(dsn)

    a = PgChangeHub(dsn, channel=channel, reconnect_min=0.01, reconnect_max=0.2)
    b = PgChangeHub(dsn, channel=channel, reconnect_min=0.01, reconnect_max=0.2, connect=gated)
    for hub in (a, b):
        await hub.start()
    try:
        for hub in (a, b):
            await asyncio.wait_for(hub.connected.wait(), 10)
        on_a = a.subscribe(ALICE)
        gate.clear()
        await terminate(dsn, b.server_pid)
        await until(lambda: not b.connected.is_set())
        changes = [Change(ALICE, 4, ChangeKind.EXISTS, (uid,), uid) for uid in (1, 2, 3)]
        for change in changes:
            b.publish(change)
        gate.set()
        assert await take(on_a, 3) == changes
        assert b.connects == 2
    finally:
        for hub in (a, b):
            await hub.close()


async def test_an_overflowing_outbox_becomes_a_resync_of_the_other_nodes(
    dsn: str, channel: str
) -> None:
    a = PgChangeHub(dsn, channel=channel)
    b = PgChangeHub(dsn, channel=channel, outbox_max=5)  # not started: disconnected
    await a.start()
    try:
        await asyncio.wait_for(a.connected.wait(), 10)
        on_a = a.subscribe(ALICE)
        for uid in range(1, 8):
            b.publish(Change(ALICE, 4, ChangeKind.EXISTS, (uid,), uid))
        await b.start()
        got = await take(on_a)
        assert got[0].folder_id == RESYNC_FOLDER
        assert on_a.take_overflow()
    finally:
        await b.close()
        await a.close()


async def test_close_sends_what_is_still_in_the_outbox(dsn: str, channel: str) -> None:
    """``mss queue retry`` from the command line wakes the serving nodes before it exits."""
    a = PgChangeHub(dsn, channel=channel)
    await a.start()
    heard: list[str] = []
    a.on_signal("queue", lambda: heard.append("queue"))
    try:
        await asyncio.wait_for(a.connected.wait(), 10)
        heard.clear()  # the connection's own "maybe missed" call
        cli = PgChangeHub(dsn, channel=channel)
        await cli.start()
        cli.signal("queue")
        await cli.close()
        await until(lambda: heard == ["queue"])
    finally:
        await a.close()


async def test_garbage_on_the_channel_is_ignored(
    nodes: tuple[PgChangeHub, PgChangeHub], dsn: str, channel: str
) -> None:
    a, b = nodes
    on_a = a.subscribe(ALICE)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_notify($1, $2)", channel, "not a payload")
        await conn.execute("SELECT pg_notify($1, $2)", channel, '{"v":1,"n":"x","c":[1]}')
    finally:
        await conn.close()
    change = Change(ALICE, 4, ChangeKind.EXPUNGE, (3,), 36)
    b.publish(change)
    assert await take(on_a) == [change]
    assert a.connects == 1


async def test_the_first_connection_is_retried_with_backoff(dsn: str, channel: str) -> None:
    """A node starts while the database is unreachable: it keeps trying, then listens."""
    attempts = 0

    async def flaky() -> Any:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise OSError("connection refused")
        return await asyncpg.connect(dsn)

    hub = PgChangeHub(dsn, channel=channel, connect=flaky, reconnect_min=0.01)
    await hub.start()
    try:
        await asyncio.wait_for(hub.connected.wait(), 10)
        assert attempts == 3
    finally:
        await hub.close()
