"""The writers of a SQLite database, within one process, in turn (issue 3: mixed workload).

SQLite has one write lock per database. A connection that finds it taken sleeps and retries
(the busy handler: 1, 2, 5 ... then 100 ms naps until the busy timeout), and whoever tries at
the right moment gets it: under the mixed workload the group-commit writer (every APPEND and
delivery) was measured waiting in ``BEGIN IMMEDIATE`` 80 % of its time while short STORE and
EXPUNGE transactions kept taking the lock before it (APPEND 0.5 s at the median, seconds at the
tail).

So the writers of this process that go through ``dialect.begin_write`` or the group-commit writer
queue (``WriteQueue``): the group-commit writer first, then the others in arrival order, no
napping. (Sharing one commit among queued ``begin_write`` transactions, each in a SAVEPOINT, was
tried and measured no better: their cost is the driver's thread hops per statement more than the
``fsync``.) The busy handler stays for other processes (the CLI) and for writers that do not
queue here (the audit log). A writer that waits longer than ``WAIT_LIMIT`` goes ahead on its own
(SQLite's lock still protects the data): a forgotten holder slows writes down but never stops
them. PostgreSQL locks rows, not the database: no queue there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

WAIT_LIMIT = 10.0  # seconds, as the default busy timeout


class WriteQueue:
    """A lock granted in arrival order, except that a ``first`` waiter (the group-commit
    writer: every delivery waiting for it shares its one commit) goes before the others. There
    is one such writer per store, so another writer waits for at most one batch more."""

    def __init__(self) -> None:
        self._held = False
        self._first: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    async def acquire(self, first: bool = False) -> None:
        if not self._held:
            self._held = True
            return
        waiters = self._first if first else self._others
        waiter = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)
            raise

    def release(self) -> None:
        for waiters in (self._first, self._others):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # still held, now by that waiter
                    return
        self._held = False


_queues: WeakKeyDictionary[Engine, WriteQueue] = WeakKeyDictionary()


def _queue_of(engine: AsyncEngine) -> WriteQueue | None:
    """The writers' queue of ``engine``'s database (None: not a SQLite file)."""
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if engine.dialect.name != "sqlite" or in_memory:
        return None
    queue = _queues.get(engine.sync_engine)
    if queue is None:
        queue = _queues[engine.sync_engine] = WriteQueue()
    return queue


@contextlib.asynccontextmanager
async def queued_writer(engine: AsyncEngine, *, first: bool = False) -> AsyncIterator[None]:
    """This writer's turn to write to ``engine``'s SQLite database (``first``: the group-commit
    writer); nothing to wait for on other databases."""
    queue = _queue_of(engine)
    if queue is None:
        yield
        return
    try:
        await asyncio.wait_for(queue.acquire(first), WAIT_LIMIT)
    except TimeoutError:
        yield  # the busy handler arbitrates, as without the queue
        return
    try:
        yield
    finally:
        queue.release()
