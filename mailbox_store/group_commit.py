"""The write path of ``deliver``: group commit.

Callers put a request on a queue and wait on a future. One writer task takes everything queued (up
to ``max_batch`` requests) and has a ``BatchWriter`` file every target in ONE transaction
(``mailbox_store.filing``: one SAVEPOINT per target, so a failing target fails alone) and commit it
once (one fsync for the whole batch); it then resolves the futures and publishes the ``EXISTS``
changes. While a batch commits, the next
one gathers in the queue, so the batch size follows the load by itself.

If the transaction or its commit fails, every request of the batch gets ``StorageUnavailable``;
nothing of it was committed. ``close`` lets the writer finish what is queued; a request arriving
after it, or left behind if the writer is cancelled, fails with ``StorageUnavailable``: a caller
never waits forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from mailbox_store.batch_writers import BatchWriter
from mailbox_store.errors import StorageUnavailable
from mailbox_store.filing import DeliveryRequest, FiledBatch, Outcome
from mailbox_store.models import Delivery
from mailbox_store.notify import ChangeHub

log = logging.getLogger(__name__)


class _Stop:
    """Queued by ``close``: the writer finishes what is ahead of it, then exits."""


_STOP: Final = _Stop()


@dataclass(frozen=True)
class GroupCommitStats:
    """Counters since start: committed batches, and the requests and targets they held."""

    batches: int = 0
    requests: int = 0
    targets: int = 0


class GroupCommitter:
    def __init__(
        self,
        writer: BatchWriter,
        hub: ChangeHub,
        *,
        max_batch: int = 128,
        on_commit: Callable[[list[DeliveryRequest], FiledBatch], None] | None = None,
    ) -> None:
        """``on_commit`` sees each committed batch (before its changes are published)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._writer = writer
        self._hub = hub
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: asyncio.Queue[DeliveryRequest | _Stop] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = GroupCommitStats()

    async def submit(
        self,
        blob_id: str,
        size: int,
        targets: tuple[Delivery, ...],
        internal_date: datetime,
        inline: bytes | None = None,
        header: bytes | None = None,
    ) -> list[Outcome]:
        """File ``targets``; returns once the batch holding them is committed."""
        if self._closed:
            raise StorageUnavailable("the mailbox store is closed")
        self._start_writer()
        future: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(
            DeliveryRequest(blob_id, size, targets, internal_date, future, inline, header)
        )
        return await future

    async def close(self) -> None:
        """Stop accepting requests, finish those queued, stop the writer."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(_STOP)
            await self._task
        self._fail_queued()
        await self._writer.close()

    def _start_writer(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="mailbox-store-group-commit"
            )

    async def _run(self) -> None:
        try:
            stop = False
            while not stop:
                requests, stop = self._take(await self._queue.get())
                if requests:
                    await self._commit_batch(requests)
        finally:
            self._fail_queued()

    def _take(self, first: DeliveryRequest | _Stop) -> tuple[list[DeliveryRequest], bool]:
        """``first`` and what else is queued, up to the batch size; True if told to stop."""
        item = first
        requests: list[DeliveryRequest] = []
        while True:
            if isinstance(item, _Stop):
                return requests, True
            requests.append(item)
            if len(requests) >= self._max_batch or self._queue.empty():
                return requests, False
            item = self._queue.get_nowait()

    async def _commit_batch(self, requests: list[DeliveryRequest]) -> None:
        try:
            batch = await self._writer.write(requests)
        except asyncio.CancelledError:
            _fail(requests, StorageUnavailable("the mailbox store stopped"))
            raise
        except Exception as exc:
            log.exception("group commit of %d deliveries failed", len(requests))
            _fail(requests, StorageUnavailable(f"database failure ({type(exc).__name__})"))
            return
        targets = sum(len(r.targets) for r in requests)
        self.stats = GroupCommitStats(
            self.stats.batches + 1,
            self.stats.requests + len(requests),
            self.stats.targets + targets,
        )
        for request, outcomes in zip(requests, batch.outcomes, strict=True):
            if not request.future.done():  # the caller may have been cancelled
                request.future.set_result(outcomes)
        if self._on_commit is not None:
            self._on_commit(requests, batch)
        for change in batch.changes:
            self._hub.publish(change)

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, DeliveryRequest):
                _fail([item], StorageUnavailable("the mailbox store is closed"))


def _fail(requests: list[DeliveryRequest], error: StorageUnavailable) -> None:
    for request in requests:
        if not request.future.done():
            request.future.set_result([error for _ in request.targets])
