"""The durable filing jobs on SQLite and PostgreSQL: one claimant per job, leases, outcomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.dmp.jobs import NewJob, SqlFilingJobs
from mss.dmp.tables import filing_jobs
from mss.schema import upgrade

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


async def _jobs(engine: AsyncEngine, now: list[datetime]) -> SqlFilingJobs:
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(filing_jobs))
    return SqlFilingJobs(engine, lease=timedelta(seconds=60), clock=lambda: now[0])


def _new(uid: int) -> NewJob:
    return NewJob("Q", "279035121518989@patient.mssante.fr", "279035121518989", 1, uid, "d@h.fr")


async def test_each_job_has_one_claimant(sql_engine: AsyncEngine) -> None:
    now = [T0]
    jobs = await _jobs(sql_engine, now)
    await jobs.add([_new(uid) for uid in range(1, 11)])
    first, second = await asyncio.gather(jobs.claim(limit=10), jobs.claim(limit=10))
    ids = [job.id for job in first + second]
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == 10
    assert await jobs.claim() == []
    assert await jobs.counts() == {"running": 10}


async def test_lease_release_and_finish(sql_engine: AsyncEngine) -> None:
    now = [T0]
    jobs = await _jobs(sql_engine, now)
    await jobs.add([_new(1), _new(2)])
    one, two = await jobs.claim()
    assert (one.attempts, two.attempts) == (1, 1)
    await jobs.finish(one.id, "processed")
    await jobs.release(two.id, timedelta(seconds=5))  # a temporary failure: again in 5 s
    assert await jobs.claim() == []
    now[0] = T0 + timedelta(seconds=6)
    [again] = await jobs.claim()
    assert (again.id, again.attempts) == (two.id, 2)
    now[0] = T0 + timedelta(seconds=67)  # its node died: the lease ends
    [late] = await jobs.claim()
    assert (late.id, late.attempts) == (two.id, 3)
    await jobs.finish(late.id, "904")
    assert await jobs.counts() == {"done": 2}
    assert await jobs.result_of(1, 1) == "processed"
    assert await jobs.result_of(1, 2) == "904"


async def test_recover_at_start_up(sql_engine: AsyncEngine) -> None:
    """SQLite is one node: what it left running is taken again at once; PostgreSQL nodes wait
    for the lease (another node may be at work)."""
    now = [T0]
    jobs = await _jobs(sql_engine, now)
    await jobs.add([_new(1)])
    assert len(await jobs.claim()) == 1
    recovered = await jobs.recover()
    if sql_engine.dialect.name == "sqlite":
        assert recovered == 1
        assert len(await jobs.claim()) == 1
    else:
        assert recovered == 0
        assert await jobs.claim() == []


async def test_finish_all_records_each_outcome_at_once(sql_engine: AsyncEngine) -> None:
    """The worker records a claim's outcomes in one transaction, each job its own code."""
    now = [T0]
    jobs = await _jobs(sql_engine, now)
    await jobs.add([_new(uid) for uid in range(1, 5)])
    claimed = await jobs.claim()
    codes = ["processed", "904", "gone", "x" * 40]
    await jobs.finish_all([(job.id, code) for job, code in zip(claimed[:3], codes, strict=False)])
    assert await jobs.counts() == {"done": 3, "running": 1}
    assert [await jobs.result_of(1, uid) for uid in range(1, 5)] == [
        "processed",
        "904",
        "gone",
        None,
    ]
    await jobs.finish_all([(claimed[3].id, codes[3])])
    assert await jobs.result_of(1, 4) == "x" * 16  # outcome codes are short: cut, never content
    await jobs.finish_all([])
