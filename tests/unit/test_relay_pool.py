"""The outbound connection pool: reuse with a reset, per-key and global limits, idle expiry."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from mss.relay.pool import ConnectionPool


class Fake:
    ids = itertools.count(1)

    def __init__(self, key: str, *, resets: bool = True) -> None:
        self.id = next(self.ids)
        self.key = key
        self.resets = resets
        self.reset_calls = 0
        self.closed = False

    async def reset(self) -> bool:
        self.reset_calls += 1
        return self.resets and not self.closed

    async def close(self) -> None:
        self.closed = True


def opener(key: str, opened: list[Fake], *, resets: bool = True) -> Callable[[], Awaitable[Fake]]:
    async def open_() -> Fake:
        await asyncio.sleep(0)
        connection = Fake(key, resets=resets)
        opened.append(connection)
        return connection

    return open_


def pool(per_key: int = 2, total: int = 10, idle: float = 60.0) -> ConnectionPool[Fake]:
    return ConnectionPool(per_key=per_key, total=total, idle_timeout=idle)


async def test_a_released_connection_is_reused_after_a_reset() -> None:
    opened: list[Fake] = []
    connections = pool()
    first = await connections.acquire("a", opener("a", opened))
    await connections.release("a", first, reusable=True)
    second = await connections.acquire("a", opener("a", opened))
    assert second is first
    assert second.reset_calls == 1
    assert len(opened) == 1
    await connections.close()
    assert first.closed is False  # still leased
    await connections.release("a", second, reusable=True)
    assert second.closed  # released after close: closed at once


async def test_a_connection_failing_its_reset_is_replaced() -> None:
    opened: list[Fake] = []
    connections = pool()
    first = await connections.acquire("a", opener("a", opened, resets=False))
    await connections.release("a", first, reusable=True)
    second = await connections.acquire("a", opener("a", opened))
    assert second is not first
    assert first.closed
    assert connections.size == 1
    await connections.release("a", second, reusable=False)
    assert connections.size == 0


async def test_per_key_limit_makes_callers_wait() -> None:
    opened: list[Fake] = []
    connections = pool(per_key=2)
    leased = [await connections.acquire("a", opener("a", opened)) for _ in range(2)]
    waiter = asyncio.create_task(connections.acquire("a", opener("a", opened)))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    other = await connections.acquire("b", opener("b", opened))  # another key is not blocked
    await connections.release("a", leased[0], reusable=True)
    assert await asyncio.wait_for(waiter, 1) is leased[0]
    assert len(opened) == 3
    for connection, key in ((leased[0], "a"), (leased[1], "a"), (other, "b")):
        await connections.release(key, connection, reusable=False)
    assert connections.size == 0


async def test_global_limit_evicts_an_idle_connection_of_another_key() -> None:
    opened: list[Fake] = []
    connections = pool(total=1)
    first = await connections.acquire("a", opener("a", opened))
    await connections.release("a", first, reusable=True)
    second = await connections.acquire("b", opener("b", opened))
    await asyncio.sleep(0)
    assert first.closed
    assert connections.size == 1
    await connections.release("b", second, reusable=False)


async def test_a_failed_open_frees_its_slot() -> None:
    connections = pool(per_key=1)

    async def failing() -> Fake:
        raise OSError("refused")

    with pytest.raises(OSError, match="refused"):
        await connections.acquire("a", failing)
    assert connections.size == 0
    opened: list[Fake] = []
    connection = await asyncio.wait_for(connections.acquire("a", opener("a", opened)), 1)
    await connections.release("a", connection, reusable=False)


async def test_idle_connections_expire() -> None:
    opened: list[Fake] = []
    connections = pool(idle=0.05)
    connection = await connections.acquire("a", opener("a", opened))
    await connections.release("a", connection, reusable=True)
    await asyncio.sleep(0.2)
    assert connection.closed
    assert connections.size == 0
    await connections.close()
