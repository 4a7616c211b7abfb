"""The durable queue of DMP filing jobs on SQL (``dmp_filing_jobs``), SQLite and PostgreSQL.

``add`` is the post-delivery hook's one write. ``claim`` hands jobs to one worker for a lease:
the claim is one conditional ``UPDATE`` (pending, or running with an expired lease) marking the
rows with a token of its own, so two nodes never run one job at once and a job left running by a
crash is taken again once its lease ends (at once on SQLite, see ``recover``).
``finish`` records the outcome code (never content); ``finish_all`` those of several jobs in one
transaction (the worker finishes a claimed batch with one commit).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from mss.dmp.tables import filing_jobs

PENDING, RUNNING, DONE = "pending", "running", "done"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewJob:
    queue_id: str
    account: str
    ins: str
    folder_id: int
    uid: int
    sender: str


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    queue_id: str
    account: str
    ins: str
    folder_id: int
    uid: int
    sender: str
    attempts: int


class SqlFilingJobs:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lease: timedelta = timedelta(seconds=120),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._engine = engine
        self._lease = lease
        self._clock = clock

    async def add(self, jobs: Sequence[NewJob]) -> None:
        """Durable when this returns (one transaction for all of them)."""
        if not jobs:
            return
        now = self._clock()
        rows = [
            {
                "queue_id": job.queue_id,
                "account": job.account,
                "ins": job.ins,
                "folder_id": job.folder_id,
                "uid": job.uid,
                "sender": job.sender,
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
            }
            for job in jobs
        ]
        async with self._engine.begin() as conn:
            await conn.execute(insert(filing_jobs), rows)

    async def claim(self, limit: int = 20) -> list[Job]:
        """Up to ``limit`` jobs now leased to the caller, oldest first: one ``UPDATE`` whose
        condition is checked again on each row it takes (PostgreSQL re-reads a row another
        claimer changed meanwhile), so no job is given to two claimants."""
        now = self._clock()
        token = secrets.token_hex(16)
        claimable = or_(
            filing_jobs.c.state == PENDING,
            and_(filing_jobs.c.state == RUNNING, filing_jobs.c.lease_until < now),
        )
        oldest = select(filing_jobs.c.id).where(claimable).order_by(filing_jobs.c.id).limit(limit)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(filing_jobs)
                .where(filing_jobs.c.id.in_(oldest.scalar_subquery()), claimable)
                .values(
                    state=RUNNING,
                    lease_until=now + self._lease,
                    attempts=filing_jobs.c.attempts + 1,
                    claim_token=token,
                )
            )
            query = select(filing_jobs).where(filing_jobs.c.claim_token == token)
            rows = (await conn.execute(query.order_by(filing_jobs.c.id))).all()
        return [_job(row) for row in rows]

    async def recover(self) -> int:
        """At start-up on SQLite (one node by design, ARCHITECTURE.md): jobs left running were
        this node's before it stopped; they are claimable again at once. On PostgreSQL other
        nodes may be running theirs: those wait for their lease to end."""
        if self._engine.dialect.name != "sqlite":
            return 0
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(filing_jobs)
                .where(filing_jobs.c.state == RUNNING)
                .values(state=PENDING, lease_until=None)
            )
        return int(result.rowcount)

    async def finish(self, job_id: int, result: str) -> None:
        await self.finish_all([(job_id, result)])

    async def finish_all(self, outcomes: Sequence[tuple[int, str]]) -> None:
        """Jobs done with their outcome codes, ``(job id, result)``, in one transaction."""
        if not outcomes:
            return
        now = self._clock()
        rows = [{"job_id": job_id, "job_result": result[:16]} for job_id, result in outcomes]
        async with self._engine.begin() as conn:
            await conn.execute(
                update(filing_jobs)
                .where(filing_jobs.c.id == bindparam("job_id"))
                .values(
                    state=DONE,
                    result=bindparam("job_result"),
                    finished_at=now,
                    lease_until=None,
                ),
                rows,
            )

    async def release(self, job_id: int, retry_after: timedelta) -> None:
        """Give a job back after a temporary failure: claimable again once ``retry_after`` has
        passed (its lease is shortened to that)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(filing_jobs)
                .where(filing_jobs.c.id == job_id)
                .values(state=RUNNING, lease_until=self._clock() + retry_after)
            )

    async def counts(self) -> dict[str, int]:
        """Jobs by state (for the CLI and the tests)."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(filing_jobs.c.state))).all()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    async def result_of(self, folder_id: int, uid: int) -> str | None:
        """The outcome of the job for a stored copy (None: none, or not finished)."""
        query = select(filing_jobs.c.result).where(
            filing_jobs.c.folder_id == folder_id, filing_jobs.c.uid == uid
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()


def _job(row: Row[Any]) -> Job:
    return Job(
        id=row.id,
        queue_id=row.queue_id,
        account=row.account,
        ins=row.ins,
        folder_id=row.folder_id,
        uid=row.uid,
        sender=row.sender,
        attempts=row.attempts,
    )
