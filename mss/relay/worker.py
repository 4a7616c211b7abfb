"""The outbound queue's workers: claim due recipients, hand them to the relay, record outcomes.

One loop per node keeps up to ``max_connections`` deliveries in flight, at most
``connections_per_domain`` towards one domain. Outcomes are committed in groups (one transaction
for all the deliveries that finished meanwhile). A report (DSN) is filed before its recipient is
settled: a crash in between repeats a report, it never loses one, nor a message (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from config.settings import OutboundSettings
from mss.audit import AuditEvent, AuditLog
from mss.outbound import (
    Batch,
    Lease,
    NewMessage,
    OutboundQueue,
    QueuedMessage,
    QueuedRecipient,
    Settlement,
)
from mss.outbound.relay import (
    Notify,
    OutboundMessage,
    OutboundRecipient,
    RecipientResult,
    Relay,
    RelayResult,
)
from mss.outbound.schedule import RetryPolicy
from mss.relay.outcomes import Verdict, judge
from mss.wire.dsn import RecipientReport

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Files a DSN for a sender (``DeliveryService.report``)."""

    async def report(
        self,
        to: str,
        reports: Sequence[RecipientReport],
        original: bytes,
        *,
        envid: str | None,
        ret: str | None,
        arrival: datetime,
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    max_connections: int = 100
    connections_per_domain: int = 10
    poll_interval: float = 5.0
    lease: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> WorkerSettings:
        lease = settings.connect_timeout + 4 * settings.command_timeout + 60
        return cls(
            max_connections=settings.max_connections,
            connections_per_domain=settings.connections_per_domain,
            poll_interval=settings.poll_interval,
            lease=timedelta(seconds=settings.lease_time or lease),
        )


class QueueWorker:
    def __init__(
        self,
        *,
        queue: OutboundQueue,
        relay: Relay,
        reporter: Reporter,
        policy: RetryPolicy,
        settings: WorkerSettings,
        audit: AuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._queue = queue
        self._relay = relay
        self._reporter = reporter
        self._policy = policy
        self._settings = settings
        self._audit = audit
        self._clock = clock
        self._domain_slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.connections_per_domain)
        )
        self._settler = _GroupSettler(queue)
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopped = False

    async def run(self) -> None:
        """Drain the queue until cancelled; an error in one pass is logged, the loop goes on."""
        try:
            while True:
                try:
                    claimed = await self._fill()
                except Exception:
                    log.exception("outbound queue claim failed; will try again")
                    claimed = 0
                if self._busy():
                    await self._wait(None)  # a delivery ends (or new work): claim again
                elif not claimed:
                    await self._wait(await self._until_next_due())
        finally:
            self._stopped = True
            await self._drain()

    async def run_until_idle(self) -> None:
        """Deliver everything due now, then return (tests, ``mss queue`` flush)."""
        while await self._fill() or self._inflight:
            if self._inflight:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    def reserve(self) -> Lease | None:
        """A lease for a message about to be queued here (``Handoff``); None when busy."""
        if self._stopped or self._busy():
            return None
        return Lease(secrets.token_hex(16), self._clock() + self._settings.lease)

    def take(self, message: NewMessage, recipients: Sequence[QueuedRecipient]) -> None:
        """Deliver freshly queued recipients, held under ``message.lease``, without a claim."""
        lease = message.lease
        if lease is None or self._stopped:  # held until the lease ends, then claimed again
            return
        view = QueuedMessage(
            queue_id=message.queue_id,
            sender=message.sender,
            created_at=message.created_at,
            expires_at=message.expires_at,
            size=len(message.body),
            recipients=tuple(recipients),
            envid=message.envid,
            ret=message.ret,
            smtputf8=message.smtputf8,
            eight_bit=message.eight_bit,
        )
        domains: dict[str, list[QueuedRecipient]] = defaultdict(list)
        for rcpt in recipients:
            domains[rcpt.domain].append(rcpt)
        for domain, group in domains.items():
            self._start(Batch(view, domain, tuple(group), message.body, lease.token, lease.until))

    def _start(self, batch: Batch) -> None:
        task = asyncio.create_task(self._deliver(batch), name=f"relay-{batch.domain}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    @property
    def inflight(self) -> int:
        """Deliveries under way."""
        return len(self._inflight)

    def _busy(self) -> bool:
        """Enough in flight that claiming more now would take only a few rows at a time."""
        return len(self._inflight) > self._settings.max_connections * 3 // 4

    async def _fill(self) -> int:
        if self._busy():
            return 0
        free = self._settings.max_connections - len(self._inflight)
        batches = await self._queue.claim(self._clock(), limit=free, lease=self._settings.lease)
        for batch in batches:
            self._start(batch)
        return len(batches)

    async def _wait(self, seconds: float | None) -> None:
        """Until a delivery ends, work is added (on this node, or on another that said so
        through PostgreSQL NOTIFY: ``mss.cluster``), or ``seconds`` pass."""
        wake = asyncio.ensure_future(self._queue.enqueued.wait())
        waiters: set[asyncio.Future[Any]] = {wake, *self._inflight}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
        self._queue.enqueued.clear()

    async def _until_next_due(self) -> float:
        poll = self._settings.poll_interval
        try:
            due = await self._queue.next_due()
        except Exception:
            log.exception("outbound queue scan failed")
            return poll
        if due is None:
            return poll
        # never a hot loop: rows due but held by another node's claim are retried shortly
        return max(0.05, min(poll, (due - self._clock()).total_seconds()))

    async def _deliver(self, batch: Batch) -> None:
        try:
            async with self._domain_slots[batch.domain]:
                result = await self._send(batch)
            verdict = judge(batch, result, self._clock(), self._policy)
            await self._file_reports(batch, verdict)
            await self._settler.settle(verdict.settlements)
            self._audit_verdict(batch, verdict)
        except Exception:  # the lease runs out and the recipients come due again
            log.exception("outbound delivery failed queue_id=%s", batch.message.queue_id)

    async def _send(self, batch: Batch) -> RelayResult:
        message = _outbound_message(batch)
        try:
            return await self._relay.send(batch.domain, message)
        except Exception:  # the seam promises no exception; a bug must not lose the message
            log.exception("relay raised queue_id=%s", batch.message.queue_id)
            failure = [
                RecipientResult(r.address, 451, "4.3.0", "local error while relaying")
                for r in batch.recipients
            ]
            return RelayResult(tuple(failure), peer_dsn=False)

    async def _file_reports(self, batch: Batch, verdict: Verdict) -> None:
        if not verdict.reports:
            return
        message = batch.message
        try:
            filed = await self._reporter.report(
                message.sender,
                verdict.reports,
                batch.body,
                envid=message.envid,
                ret=message.ret,
                arrival=message.created_at,
            )
        except Exception:  # the outcome still stands: no second delivery for a lost report
            log.exception("dsn failed queue_id=%s", message.queue_id)
            filed = False
        if not filed:
            log.error("dsn could not be filed queue_id=%s", message.queue_id)
            return
        for report in verdict.reports:
            self._audit.record(
                AuditEvent.DSN_SENT,
                queue_id=message.queue_id,
                action=report.action,
                recipient=report.final_recipient,
                status=report.status,
            )

    def _audit_verdict(self, batch: Batch, verdict: Verdict) -> None:
        queue_id = batch.message.queue_id
        for rcpt in verdict.delivered:
            log.info("relayed queue_id=%s domain=%s", queue_id, batch.domain)
            self._audit.record(
                AuditEvent.MESSAGE_DELIVERED, mailbox=rcpt.address, queue_id=queue_id
            )
        for rcpt, answer, temporary in verdict.failed:
            log.info(
                "relay failed queue_id=%s domain=%s code=%d temporary=%s",
                queue_id,
                batch.domain,
                answer.code,
                temporary,
            )
            self._audit.record(
                AuditEvent.DELIVERY_FAILED,
                mailbox=rcpt.address,
                queue_id=queue_id,
                status=answer.enhanced,
                attempt=rcpt.attempts + 1,
                temporary="yes" if temporary else "no",
            )

    async def _drain(self) -> None:
        for task in list(self._inflight):
            task.cancel()
        for task in list(self._inflight):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _outbound_message(batch: Batch) -> OutboundMessage:
    message = batch.message
    return OutboundMessage(
        queue_id=message.queue_id,
        sender=message.sender,
        recipients=tuple(
            OutboundRecipient(
                r.address,
                cast(frozenset[Notify], r.notify) if r.notify else None,
                f"{r.orcpt[0]};{r.orcpt[1]}" if r.orcpt else None,
            )
            for r in batch.recipients
        ),
        body=batch.body,
        envid=message.envid,
        ret=message.ret,
        smtputf8=message.smtputf8,
        eight_bit=message.eight_bit,
    )


class _GroupSettler:
    """Outcomes of deliveries that end together are committed in one transaction."""

    def __init__(self, queue: OutboundQueue) -> None:
        self._queue = queue
        self._pending: list[tuple[Sequence[Settlement], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((settlements, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await self._queue.settle([s for items, _ in group for s in items])
            except Exception as error:
                for _, done in group:
                    if not done.done():
                        done.set_exception(error)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)
