"""Workers of one node woken by work added on another (``mss.cluster.wire_wakeups``): the
outbound queue's ``queue`` signal and the DMP filing jobs' ``filing`` signal, over two real
PostgreSQL hubs. The polls stay the fallback; these wake-ups make them rarely needed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from mailbox_store.blobs import KeyRing
from mailbox_store.notify_pg import PgChangeHub, asyncpg_dsn
from mss.cluster import wire_wakeups
from mss.db import make_engine
from mss.dmp.jobs import Job, SqlFilingJobs
from mss.dmp.worker import FilingWorker
from mss.outbound import SqlOutboundQueue
from tests.conftest import pg_url

pytestmark = pytest.mark.postgres


class FakeJobs:
    """Counts claims; a claim can be held open to keep the worker busy."""

    def __init__(self) -> None:
        self.claims = 0
        self.release = asyncio.Event()
        self.release.set()

    async def recover(self) -> int:
        return 0

    async def claim(self, limit: int = 20) -> list[Job]:
        self.claims += 1
        await self.release.wait()
        return []

    async def finish_all(self, outcomes: Any) -> None:
        return None


def filing_worker(jobs: FakeJobs) -> FilingWorker:
    unused: Any = None
    return FilingWorker(
        jobs=cast(SqlFilingJobs, jobs),
        mailboxes=unused,
        filer=unused,
        mdn=unused,
        poll_interval=3600,  # the poll never fires in these tests
    )


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def hubs() -> AsyncIterator[tuple[PgChangeHub, PgChangeHub]]:
    url = pg_url()
    if not url:
        pytest.skip("no PostgreSQL (set MSS_TEST_PG_URL)")
    channel = f"mss_test_{secrets.token_hex(4)}"
    a, b = (PgChangeHub(asyncpg_dsn(url), channel=channel) for _ in range(2))
    for hub in (a, b):
        await hub.start()
        await asyncio.wait_for(hub.connected.wait(), 10)
    yield a, b
    for hub in (a, b):
        await hub.close()


async def test_work_queued_where_no_worker_took_it_wakes_the_other_nodes(
    hubs: tuple[PgChangeHub, PgChangeHub],
) -> None:
    a, b = hubs
    url = pg_url() or ""
    engine = make_engine(url)
    try:
        keyring = KeyRing({"k": bytes(32)}, "k")
        queue_a, queue_b = SqlOutboundQueue(engine, keyring), SqlOutboundQueue(engine, keyring)
        wire_wakeups(a, queue_a, None)
        wire_wakeups(b, queue_b, None)
        queue_a.enqueued.clear()
        queue_b._work_added()  # what enqueue without a lease and retry_now do
        assert queue_b.enqueued.is_set()
        await until(queue_a.enqueued.is_set)
    finally:
        await engine.dispose()


async def test_a_busy_filing_worker_wakes_the_other_nodes_and_an_idle_one_does_not(
    hubs: tuple[PgChangeHub, PgChangeHub],
) -> None:
    a, b = hubs
    jobs_a, jobs_b = FakeJobs(), FakeJobs()
    worker_a, worker_b = filing_worker(jobs_a), filing_worker(jobs_b)
    wire_wakeups(a, None, worker_a)
    wire_wakeups(b, None, worker_b)
    sent: list[str] = []
    wired = worker_b.announce
    assert wired is not None

    def announce() -> None:
        sent.append("filing")
        wired()

    worker_b.announce = announce
    tasks = [asyncio.create_task(w.run()) for w in (worker_a, worker_b)]
    try:
        await until(lambda: jobs_a.claims == 1 and jobs_b.claims == 1)
        await asyncio.sleep(0.05)  # both idle, waiting
        worker_b.wake()  # idle: it takes the job itself, nobody else is told
        await until(lambda: jobs_b.claims == 2)
        assert sent == []
        jobs_b.release.clear()
        worker_b.wake()
        await until(lambda: jobs_b.claims == 3)  # busy in a claim now
        claims_a = jobs_a.claims
        worker_b.wake()  # jobs added while busy: another node's worker starts them
        assert sent == ["filing"]
        await until(lambda: jobs_a.claims == claims_a + 1)
    finally:
        jobs_b.release.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
