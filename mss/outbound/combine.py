"""Group commit for the queue's writes: the jobs of concurrent callers share one transaction.

On the embedded SQLite a commit is an fsync (tens of milliseconds on a busy disk) and there is
one writer at a time: an enqueue, a claim and a settlement each committing alone would cap the
queue at a few dozen operations a second. Here every job waiting when the previous commit ends
runs in the next transaction and one commit makes them all durable; callers return only after
that commit. Should a job fail, the transaction is rolled back and each job of the batch runs
again in a transaction of its own, so a failing job fails alone. The writer task lives only
while there is work, so nothing is left running when the queue is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailbox_store.dialect import begin_write
from mailbox_store.errors import StorageUnavailable

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]


class WriteCombiner:
    """``writers`` transactions at most at a time: 1 on SQLite (one writer anyway), a few on
    PostgreSQL, where each commit waits for its own WAL flush and round trips add up."""

    def __init__(self, engine: AsyncEngine, *, writers: int = 1, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_writers = writers
        self._max_batch = max_batch
        self._pending: list[tuple[Job, asyncio.Future[Any]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``job`` in a shared write transaction; its result once that is committed."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((job, done))
        if len(self._writers) < self._max_writers:
            writer = asyncio.create_task(self._write(), name="outbound-queue-writer")
            self._writers.add(writer)
        return await done

    async def _write(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit(batch)
        finally:  # at once, not in a done callback: a job queued now starts a new writer
            current = asyncio.current_task()
            if current is not None:
                self._writers.discard(current)

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        try:
            async with begin_write(self._engine) as conn:
                results = [await job(conn) for job, _ in batch]
        except asyncio.CancelledError:
            _fail(batch, StorageUnavailable("the outbound queue stopped"))
            raise
        except Exception:
            if len(batch) == 1:
                await self._alone(batch[0])
                return
            for item in batch:  # find the culprit: each job on its own
                await self._alone(item)
            return
        for (_, done), value in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(value)

    async def _alone(self, item: tuple[Job, asyncio.Future[Any]]) -> None:
        job, done = item
        try:
            async with begin_write(self._engine) as conn:
                value = await job(conn)
        except asyncio.CancelledError:
            _fail([item], StorageUnavailable("the outbound queue stopped"))
            raise
        except Exception as error:
            if not done.done():
                done.set_exception(error)
            return
        if not done.done():
            done.set_result(value)


def _fail(batch: list[tuple[Job, asyncio.Future[Any]]], error: Exception) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(error)
