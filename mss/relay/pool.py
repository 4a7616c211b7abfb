"""Outbound connection reuse: at most N connections per domain and M in all, idle ones reused.

A connection handed back after a clean transaction waits, idle, for the next message to the same
domain; the taker says ``RSET`` first (``Pooled.reset``) and opens a new one when that fails.
Idle connections are closed after ``idle_timeout`` seconds, and the oldest idle connection of
another domain is closed when the global limit would otherwise make a caller wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Pooled(Protocol):
    async def reset(self) -> bool:
        """Make the connection ready for a new message; False when it is no longer usable."""
        ...

    async def close(self) -> None:
        """Close politely; never raises."""
        ...


C = TypeVar("C", bound=Pooled)


@dataclass
class _Idle(Generic[C]):
    connection: C
    since: float


class ConnectionPool(Generic[C]):
    def __init__(self, *, per_key: int, total: int, idle_timeout: float) -> None:
        self._per_key = per_key
        self._total = total
        self._idle_timeout = idle_timeout
        self._idle: dict[str, deque[_Idle[C]]] = defaultdict(deque)
        self._count: dict[str, int] = defaultdict(int)  # idle + busy + being opened, per key
        self._changed = asyncio.Condition()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()
        self.opened = 0  # connections opened since the start (for tests and metrics)

    @property
    def size(self) -> int:
        return sum(self._count.values())

    def idle_count(self, key: str) -> int:
        return len(self._idle.get(key, ()))

    async def acquire(self, key: str, opener: Callable[[], Awaitable[C]]) -> C:
        """A ready connection for ``key``: an idle one that answered RSET, else a new one."""
        while True:
            idle = await self._take_or_reserve(key)
            if idle is None:
                return await self._open(key, opener)
            if await idle.reset():
                return idle
            await self._discard(key, idle)

    async def release(self, key: str, connection: C, *, reusable: bool) -> None:
        """Hand a connection back: kept idle when ``reusable``, else closed."""
        if not reusable or self._closed:
            await self._discard(key, connection)
            return
        async with self._changed:
            self._idle[key].append(_Idle(connection, time.monotonic()))
            self._changed.notify_all()
        self._start_reaper()

    async def close(self) -> None:
        """Close every idle connection and stop the reaper; later releases close theirs."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        async with self._changed:
            idle = [(key, item.connection) for key, q in self._idle.items() for item in q]
            self._idle.clear()
        for key, connection in idle:
            await self._discard(key, connection)

    async def _take_or_reserve(self, key: str) -> C | None:
        """An idle connection (to reset), or None after reserving a slot to open one."""
        async with self._changed:
            while True:
                if self._idle[key]:
                    return self._idle[key].pop().connection  # the most recently used
                if self._count[key] < self._per_key:
                    if self.size < self._total:
                        self._count[key] += 1
                        return None
                    victim = self._oldest_idle()
                    if victim is not None:
                        self._count[victim[0]] -= 1
                        self._closing(victim[1])
                        continue
                await self._changed.wait()

    def _oldest_idle(self) -> tuple[str, C] | None:
        queues = [(q[0].since, key) for key, q in self._idle.items() if q]
        if not queues:
            return None
        _, key = min(queues)
        return key, self._idle[key].popleft().connection

    def _closing(self, connection: C) -> None:
        task = asyncio.get_running_loop().create_task(connection.close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _open(self, key: str, opener: Callable[[], Awaitable[C]]) -> C:
        try:
            connection = await opener()
        except BaseException:
            await self._forget(key)
            raise
        self.opened += 1
        return connection

    async def _discard(self, key: str, connection: C) -> None:
        await connection.close()
        await self._forget(key)

    async def _forget(self, key: str) -> None:
        async with self._changed:
            self._count[key] -= 1
            self._changed.notify_all()

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        while any(self._idle.values()):
            await asyncio.sleep(self._idle_timeout / 2)
            await self._reap(time.monotonic() - self._idle_timeout)

    async def _reap(self, older_than: float) -> None:
        expired: list[tuple[str, C]] = []
        async with self._changed:
            for key, queue in self._idle.items():
                while queue and queue[0].since <= older_than:
                    expired.append((key, queue.popleft().connection))
        for key, connection in expired:
            await self._discard(key, connection)
