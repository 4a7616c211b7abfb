"""The PostgreSQL hub's connection handling against a fake asyncpg connection: failures that a
real server produces only with a network cut (a ping that never answers, a send that fails
half-way) and a stop while the database is unreachable. The real server: tests/contract/
test_notify_pg.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from mailbox_store.models import Change, ChangeKind
from mailbox_store.notify_pg import PgChangeHub
from mailbox_store.notify_wire import decode

ALICE = "dr.martin@hopital-demo.mssante.fr"


class FakeConnection:
    """What the hub uses of an asyncpg connection; records the payloads it is asked to send."""

    pids = iter(range(100, 1000))

    def __init__(self, *, hang_ping: bool = False, fail_sends: int = 0) -> None:
        self.pid = next(self.pids)
        self.hang_ping = hang_ping
        self.fail_sends = fail_sends
        self.sent: list[str] = []
        self.closed = False
        self.pings = 0

    def add_termination_listener(self, callback: Callable[[Any], None]) -> None:
        self.on_terminate = callback

    async def add_listener(self, channel: str, callback: Any) -> None:
        self.listener = callback

    def get_server_pid(self) -> int:
        return self.pid

    def is_closed(self) -> bool:
        return self.closed

    async def execute(self, query: str, channel: str, payload: str) -> None:
        await self._send([payload])

    async def executemany(self, query: str, rows: list[tuple[str, str]]) -> None:
        await self._send([payload for _, payload in rows])

    async def _send(self, payloads: list[str]) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionResetError("connection reset by peer")
        self.sent += payloads

    async def fetchval(self, query: str) -> int:
        self.pings += 1
        if self.hang_ping:
            await asyncio.Event().wait()
        return 1

    async def close(self) -> None:
        self.closed = True

    def terminate(self) -> None:
        self.closed = True


class Server:
    """Hands out the next fake connection at each connect; None means "refused"."""

    def __init__(self, *connections: FakeConnection | None) -> None:
        self.connections = list(connections)
        self.given: list[FakeConnection] = []

    async def connect(self) -> FakeConnection:
        if not self.connections:
            raise OSError("connection refused")
        conn = self.connections.pop(0)
        if conn is None:
            raise OSError("connection refused")
        self.given.append(conn)
        return conn


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def hub_on(server: Server, **options: Any) -> PgChangeHub:
    return PgChangeHub(
        "postgresql://unused", connect=server.connect, reconnect_min=0.001, **options
    )


def uids_sent(conn: FakeConnection) -> list[int]:
    return [u for p in conn.sent for c in decode(p).changes for u in c.uids]


async def test_a_ping_that_never_answers_means_a_new_connection() -> None:
    """A silent network cut: the keepalive's ``SELECT 1`` times out, the hub reconnects and
    its subscribers resynchronise."""
    dead, alive = FakeConnection(hang_ping=True), FakeConnection()
    hub = hub_on(Server(dead, alive), keepalive=0.02, ping_timeout=0.05)
    subscription = hub.subscribe(ALICE)
    await hub.start()
    try:
        await until(lambda: hub.connects == 2)
        assert dead.closed
        assert dead.pings == 1
        assert hub.server_pid == alive.pid
        assert subscription.take_overflow()
    finally:
        await hub.close()


async def test_a_send_that_fails_is_sent_again_on_the_next_connection_in_order() -> None:
    first, second = FakeConnection(fail_sends=1), FakeConnection()
    hub = hub_on(Server(first, second))
    await hub.start()
    try:
        await until(hub.connected.is_set)
        for uid in (1, 2, 3):
            hub.publish(Change(ALICE, 1, ChangeKind.EXISTS, (uid,), uid))
        await until(lambda: hub.connects == 2)
        hub.publish(Change(ALICE, 1, ChangeKind.EXISTS, (4,), 4))
        await until(lambda: uids_sent(second) == [1, 2, 3, 4])
        assert first.sent == []
    finally:
        await hub.close()


async def test_own_echoes_and_garbage_are_ignored() -> None:
    conn = FakeConnection()
    hub = hub_on(Server(conn))
    await hub.start()
    try:
        await until(hub.connected.is_set)
        subscription = hub.subscribe(ALICE)
        hub.publish(Change(ALICE, 1, ChangeKind.EXISTS, (1,), 1))
        await until(lambda: len(conn.sent) == 1)
        assert (await asyncio.wait_for(anext(subscription), 2)).uids == (1,)  # dispatched here
        conn.listener(conn, 999, "mss_changes", conn.sent[0])  # the echo, from another pid
        conn.listener(conn, 999, "mss_changes", "{garbage")
        conn.listener(conn, conn.pid, "mss_changes", "{not even decoded")
        assert subscription.pending() == 0
        assert hub.received == 0
    finally:
        await hub.close()


async def test_stopping_while_the_database_is_unreachable_gives_up_quickly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = hub_on(Server(), close_timeout=0.2)
    await hub.start()
    hub.publish(Change(ALICE, 1, ChangeKind.EXISTS, (1,), 1))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mailbox_store.notify_pg"):
        await hub.close()
    assert time.monotonic() - started < 2
    assert "1 changes unsent" in caplog.text
    assert ALICE not in caplog.text  # no address in the logs


async def test_a_connection_that_cannot_listen_is_retried_with_a_growing_delay() -> None:
    """No hot loop of connections when LISTEN itself fails (e.g. a bad channel)."""

    class Deaf(FakeConnection):
        async def add_listener(self, channel: str, callback: Any) -> None:
            raise OSError("cannot listen")

    server = Server(*(Deaf() for _ in range(50)))
    hub = PgChangeHub(
        "postgresql://unused", connect=server.connect, reconnect_min=0.02, reconnect_max=1.0
    )
    await hub.start()
    await asyncio.sleep(0.3)
    await hub.close()
    assert 2 <= len(server.given) <= 6  # 0.02, 0.04, 0.08, 0.16 s (with jitter) apart
    assert all(conn.closed for conn in server.given)
    assert hub.connects == 0
