"""The post-delivery hook that queues filing jobs, and the worker that runs them.

``FilingHook`` is a ``DeliveryService`` after-delivery job: for each copy delivered to a patient
of a message that may carry an ``IHE_XDM.ZIP`` it writes a job row (durable before the SMTP
``250``; an ordinary message costs a byte scan, nothing more), then wakes the worker. The worker
does the filing after the reply: it claims jobs, reads the stored copy back, files its documents
(``DocumentFiler``), sends the MDN if one was asked, and records the outcome code. At start-up it
first takes the jobs a crash left behind. A failure to file never touches the mail itself.

Up to ``concurrency`` jobs of one claim are under way at once: read and parsed (worker threads)
and filed as soon as the same patient's previous job is — one patient's jobs in arrival order,
so a replacement comes after its parent; different patients' filings meet in the store, which
on SQLite commits those waiting together. Their outcomes are recorded together, one commit per
claim *(chosen)*: a crash before that commit runs those jobs again, which files nothing twice
(DMP-DOC-1: duplicates) but may send their MDN again — as a crash between filing and finishing
one job always could. At most ``concurrency`` messages are in memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from directory.models import Patient
from dmp_bridge.errors import MdnCode
from mailbox_store.errors import UnknownFolder, UnknownMessage
from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered
from mss.dmp.attachments import may_carry_xdm
from mss.dmp.filing import DocumentFiler, FilingOutcome, Prepared
from mss.dmp.jobs import Job, NewJob, SqlFilingJobs
from mss.dmp.mdn import MdnSender

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
CONCURRENCY = 4  # jobs read and parsed ahead while one is filed
GONE = "gone"  # the copy was expunged before it could be filed
NOTHING = "none"  # no IHE_XDM.ZIP after all


_Read = tuple[bytes, Prepared] | None  # a job's stored copy and its documents; None: gone


# The shapes the hook reads from the delivery service (mss.dmp sits below mss.delivery).
class _Recipient(Protocol):
    @property
    def address(self) -> str: ...


class _Outcome(Protocol):
    @property
    def recipient(self) -> _Recipient: ...

    @property
    def delivered(self) -> Delivered | None: ...


class _Envelope(Protocol):
    @property
    def sender(self) -> str: ...


class _Report(Protocol):
    @property
    def queue_id(self) -> str: ...

    @property
    def delivered(self) -> Sequence[_Outcome]: ...


class Patients(Protocol):
    async def get_patient(self, address: str) -> Patient | None: ...


class FilingWorker:
    def __init__(
        self,
        *,
        jobs: SqlFilingJobs,
        mailboxes: MailboxStore,
        filer: DocumentFiler,
        mdn: MdnSender,
        poll_interval: float,
        concurrency: int = CONCURRENCY,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._jobs = jobs
        self._mailboxes = mailboxes
        self._filer = filer
        self._mdn = mdn
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._waiting = False  # idle, waiting to be woken: it takes new jobs at once
        # tells the other nodes' workers (PostgreSQL NOTIFY, mss.cluster); None: this node only
        self.announce: Callable[[], None] | None = None

    def wake(self) -> None:
        """Jobs were added here: this worker takes them, or another node's if this one is busy."""
        self._wake.set()
        if self.announce is not None and not self._waiting:
            self.announce()

    def wake_local(self) -> None:
        """Another node added jobs (or may have: a missed signal); claim now."""
        self._wake.set()

    async def run(self) -> None:
        """Run jobs until cancelled: at once, then when woken or every ``poll_interval``."""
        try:
            recovered = await self._jobs.recover()
            if recovered:
                log.info("dmp filing jobs recovered after a stop count=%d", recovered)
        except Exception as error:  # SEC-IN-3: no SQL parameters in the log
            log.error("dmp filing recovery failed error=%s", type(error).__name__)
        while True:
            self._wake.clear()
            try:
                while await self.run_once():
                    pass
            except Exception as error:
                log.error("dmp filing worker failed error=%s; will try again", type(error).__name__)
            self._waiting = True
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            finally:
                self._waiting = False

    async def run_once(self) -> int:
        """Run the jobs claimable now; how many were claimed."""
        jobs = await self._jobs.claim()
        window: deque[asyncio.Task[None]] = deque()
        last: dict[str, asyncio.Task[None]] = {}  # each patient's latest job
        finished: list[tuple[int, str]] = []
        failure: Exception | None = None
        try:
            for job in jobs:
                if len(window) >= self._concurrency:
                    await window.popleft()
                read = asyncio.create_task(self._read(job))
                task = asyncio.create_task(self._after(last.get(job.ins), job, read, finished))
                window.append(task)
                last[job.ins] = task
            while window:
                await window.popleft()
        except Exception as error:  # a job's own failure is handled in _run: this is storage
            failure = error
        finally:
            for task in window:  # stopped early: the jobs not filed yet are dropped
                task.cancel()
                task.add_done_callback(_retrieve)
        await self._jobs.finish_all(finished)  # one commit for the claim's outcomes
        if failure is not None:
            raise failure
        return len(jobs)

    async def _after(
        self,
        previous: asyncio.Task[None] | None,
        job: Job,
        read: asyncio.Task[_Read],
        finished: list[tuple[int, str]],
    ) -> None:
        """``job`` filed once the patient's previous job is (a replacement after its parent)."""
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its failure is its own
            result = await self._run(job, read)
        finally:
            if not read.done():
                read.cancel()
            read.add_done_callback(_retrieve)
        if result is not None:
            finished.append((job.id, result))

    async def _read(self, job: Job) -> _Read:
        """The stored copy and its documents read and checked (None: the copy is gone)."""
        try:
            body = await self._mailboxes.get_body(job.folder_id, job.uid)
        except (UnknownMessage, UnknownFolder):
            return None
        return body, await self._filer.prepare(body, job.ins)

    async def _run(self, job: Job, read: asyncio.Task[_Read]) -> str | None:
        """The job's outcome code, or None when it was given back to be tried again later."""
        try:
            return await self._file(job, await read)
        except Exception as error:  # SEC-IN-3: a database error quotes its parameters (titles)
            log.error(
                "dmp filing job failed job=%d attempt=%d error=%s",
                job.id,
                job.attempts,
                type(error).__name__,
            )
            log.debug("dmp filing job failure", exc_info=True)
            if job.attempts < self._max_attempts:  # again later, a little later each time
                await self._jobs.release(job.id, timedelta(seconds=self._poll * job.attempts))
                return None
            return await self._give_up(job)

    async def _give_up(self, job: Job) -> str:
        """DMP-MDN-1 "other" (906), told to the sender if asked; the mail stays delivered."""
        outcome = FilingOutcome(code=MdnCode.OTHER)
        try:
            body = await self._mailboxes.get_body(job.folder_id, job.uid)
            await self._mdn.send(
                envelope_sender=job.sender, patient=job.account, original=body, outcome=outcome
            )
        except Exception as error:
            log.error("dmp filing mdn not sent job=%d error=%s", job.id, type(error).__name__)
        return outcome.result

    async def _file(self, job: Job, read: _Read) -> str:
        if read is None:
            return GONE
        body, prepared = read
        outcome = await self._filer.commit(prepared)
        if outcome is None:
            return NOTHING
        await self._mdn.send(
            envelope_sender=job.sender, patient=job.account, original=body, outcome=outcome
        )
        log.info(
            "dmp filing job=%d result=%s filed=%d duplicates=%d",
            job.id,
            outcome.result,
            len(outcome.filed),
            outcome.duplicates,
        )
        return outcome.result


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a dropped task's outcome as seen (no "exception never retrieved" in the logs)."""
    if not task.cancelled():
        task.exception()


class FilingHook:
    """The ``AfterDelivery`` job: quick, durable, and it only queues (the worker files)."""

    def __init__(self, *, jobs: SqlFilingJobs, patients: Patients, worker: FilingWorker) -> None:
        self._jobs = jobs
        self._patients = patients
        self._worker = worker

    async def __call__(self, envelope: _Envelope, data: bytes, report: _Report) -> None:
        if not may_carry_xdm(data):
            return
        jobs = []
        for outcome in report.delivered:
            copy = outcome.delivered
            patient = await self._patients.get_patient(outcome.recipient.address)
            if copy is None or patient is None:
                continue
            jobs.append(
                NewJob(
                    queue_id=report.queue_id,
                    account=patient.address,
                    ins=patient.ins,
                    folder_id=copy.folder_id,
                    uid=copy.uid,
                    sender=envelope.sender,
                )
            )
        if jobs:
            await self._jobs.add(jobs)
            self._worker.wake()
