"""The delivery service: the one path every message takes, whatever its entry point."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from directory.interfaces import Directory
from mailbox_store.errors import StoreError, UnknownAccount
from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivered, Delivery
from mss.audit import AuditEvent, AuditLog
from mss.delivery.dsn import DsnSender
from mss.delivery.envelope import DeliveryReport, Envelope, Origin, Recipient, RecipientOutcome
from mss.delivery.grants import record_professional_message
from mss.delivery.outbound import Enqueuer
from mss.delivery.parties import Resolver
from mss.policy import (
    ACCEPT,
    Decision,
    MessageContext,
    Party,
    Reason,
    RecipientContext,
    SenderContext,
    evaluate_data,
    evaluate_recipient,
    evaluate_sender,
)
from mss.policy.facts import Limits
from mss.wire.dsn import RecipientReport
from mss.wire.headers import has_bare_line_ending, received_header

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    hostname: str
    limits: Limits
    cache_ttl: float = 2.0


class AfterDelivery(Protocol):
    """A post-delivery job (DMP filing, notifications): told of every delivery once its copies
    are durable. It must be quick (queue work, do not do it) and its failures never reach the
    sender: they are logged and the delivery stands."""

    async def __call__(self, envelope: Envelope, data: bytes, report: DeliveryReport) -> None: ...


class DeliveryService:
    def __init__(
        self,
        *,
        directory: Directory,
        store: MailboxStore,
        audit: AuditLog,
        settings: DeliverySettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        after_delivery: Sequence[AfterDelivery] = (),
        outbound: Enqueuer | None = None,
    ) -> None:
        self._directory = directory
        self._store = store
        self._audit = audit
        self._settings = settings
        self._clock = clock
        self._after = tuple(after_delivery)
        self._resolver = Resolver(directory, ttl=settings.cache_ttl)
        self.outbound = outbound  # the queue's workers hand themselves to it (mss.relay.runner)
        self._dsn = DsnSender(
            store=store, resolver=self._resolver, hostname=settings.hostname, outbound=outbound
        )

    async def check_sender(self, origin: Origin, sender: str) -> Decision:
        party = await self._resolver.resolve(sender) if sender else None
        decision = await evaluate_sender(SenderContext(origin.session, party), self._directory)
        self._audit_decision(origin, "mail", decision)
        return decision

    async def check_recipient(
        self,
        origin: Origin,
        sender: str,
        recipient: str,
        *,
        accepted_so_far: int,
        declared_size: int | None = None,
    ) -> Decision:
        sender_party = await self._resolver.resolve(sender) if sender else None
        ctx = RecipientContext(
            origin.session,
            sender_party,
            await self._resolver.resolve(recipient),
            accepted_so_far,
            declared_size,
            self._settings.limits,
        )
        decision = await evaluate_recipient(ctx, self._directory)
        self._audit_decision(origin, "rcpt", decision)
        return decision

    async def submit(self, origin: Origin, envelope: Envelope, data: bytes) -> DeliveryReport:
        """Sender, recipient and content checks, then delivery: the webmail's entry point."""
        queue_id = new_queue_id()
        decision = await self.check_sender(origin, envelope.sender)
        if not decision.accepted:
            return DeliveryReport(
                queue_id, tuple(RecipientOutcome(r, decision) for r in envelope.recipients)
            )
        refused: list[RecipientOutcome] = []
        accepted: list[Recipient] = []
        for rcpt in envelope.recipients:
            decision = await self.check_recipient(
                origin, envelope.sender, rcpt.address, accepted_so_far=len(accepted)
            )
            if decision.accepted:
                accepted.append(rcpt)
            else:
                refused.append(RecipientOutcome(rcpt, decision))
        if not accepted:
            return DeliveryReport(queue_id, tuple(refused))
        kept = Envelope(envelope.sender, tuple(accepted), envelope.ret, envelope.envid)
        report = await self.deliver(origin, kept, data, queue_id=queue_id, notify_failures=False)
        return DeliveryReport(queue_id, tuple(refused) + report.outcomes)

    async def deliver(
        self,
        origin: Origin,
        envelope: Envelope,
        data: bytes,
        *,
        queue_id: str | None = None,
        notify_failures: bool = True,
        extra_trace: bytes = b"",  # our Authentication-Results (MX), under Received: (issue 4)
    ) -> DeliveryReport:
        """Deliver accepted recipients; durable for each delivered one when this returns.

        Failures found after acceptance (content rules, storage) produce a failure DSN when
        ``notify_failures`` (the SMTP case: the client has no other way to learn of them).
        """
        queue_id = queue_id or new_queue_id()
        sender = await self._resolver.resolve(envelope.sender) if envelope.sender else None
        decisions = await self._content_decisions(origin, sender, envelope, data)
        return_path, received = self._trace(origin, envelope, queue_id)
        accepted = [r for r, d in zip(envelope.recipients, decisions, strict=True) if d.accepted]
        remote = {
            r.address for r in accepted if not (await self._resolver.resolve(r.address)).hosted
        }
        to_store = [r for r in accepted if r.address not in remote]
        to_queue = [r for r in accepted if r.address in remote]
        stored = iter(
            await self._store_copies(return_path + received + extra_trace + data, to_store)
        )
        queued = iter(await self._queue_copies(queue_id, envelope, to_queue, received, data))
        outcomes = tuple(
            RecipientOutcome(r, d)
            if not d.accepted
            else _queued(r, next(queued))
            if r.address in remote
            else RecipientOutcome(r, *next(stored))
            for r, d in zip(envelope.recipients, decisions, strict=True)
        )
        report = DeliveryReport(queue_id, outcomes)
        log.info(
            "message queue_id=%s size=%d delivered=%d queued=%d failed=%d",
            queue_id,
            len(data),
            len(report.delivered),
            len(report.queued),
            len(report.failed),
        )
        await self._after_delivery(origin, envelope, sender, data, report, notify_failures)
        return report

    async def _content_decisions(
        self, origin: Origin, sender: Party | None, envelope: Envelope, data: bytes
    ) -> list[Decision]:
        bare = has_bare_line_ending(data)
        decisions = []
        for rcpt in envelope.recipients:
            ctx = MessageContext(
                origin.session,
                sender,
                await self._resolver.resolve(rcpt.address),
                len(data),
                bare,
                self._settings.limits,
            )
            decision = await evaluate_data(ctx, self._directory)
            self._audit_decision(origin, "data", decision)
            decisions.append(decision)
        return decisions

    async def report(
        self,
        to: str,
        reports: Sequence[RecipientReport],
        original: bytes,
        *,
        envid: str | None,
        ret: str | None,
        arrival: datetime,
    ) -> bool:
        """File a delivery status notification for ``to`` (here or through the queue); the
        outbound workers' way to tell a sender what became of its message (MSS-MSG-2)."""
        return await self._dsn.deliver_report(
            to, reports, original, envid=envid, ret=ret, arrival=arrival, now=self._clock()
        )

    async def _queue_copies(
        self,
        queue_id: str,
        envelope: Envelope,
        recipients: list[Recipient],
        received: bytes,
        data: bytes,
    ) -> list[Decision]:
        """MSS-TRUST-4: remote recipients (whitelisted at RCPT) go to the outbound queue."""
        if not recipients:
            return []
        if self.outbound is None:
            return [Decision.reject(Reason.REMOTE_DELIVERY_UNAVAILABLE, "5.3.3")] * len(recipients)
        return await self.outbound.enqueue(queue_id, envelope, recipients, received, data)

    def _trace(self, origin: Origin, envelope: Envelope, queue_id: str) -> tuple[bytes, bytes]:
        """Return-Path and Received (RFC 5321 §4.4): the only bytes we add to a message.
        Return-Path only on local copies: it is added at final delivery, never relayed."""
        return_path = f"Return-Path: <{envelope.sender}>\r\n".encode()
        received = received_header(
            from_helo=origin.helo or "unknown",
            peer_ip=origin.peer.rpartition(":")[0] or origin.peer,
            by_host=self._settings.hostname,
            with_protocol=origin.protocol,
            tls=origin.tls,
            queue_id=queue_id,
            recipient=None,
            now=self._clock(),
        )
        return return_path, received

    async def _store_copies(
        self, body: bytes, recipients: list[Recipient]
    ) -> list[tuple[Decision, Delivered | None]]:
        """One blob, one copy per recipient, each durable or failed on its own."""
        if not recipients:
            return []
        targets = [Delivery(account=r.address.lower()) for r in recipients]
        results = await self._store.deliver(body, targets)
        missing = [
            t for t, res in zip(targets, results, strict=True) if isinstance(res, UnknownAccount)
        ]
        if missing:  # a directory entry whose folders were never made: make them, try again
            for target in missing:
                await self._store.create_account(target.account)
            retried = iter(await self._store.deliver(body, missing))
            results = [next(retried) if isinstance(res, UnknownAccount) else res for res in results]
        return [_stored(res) for res in results]

    async def _after_delivery(
        self,
        origin: Origin,
        envelope: Envelope,
        sender: Party | None,
        data: bytes,
        report: DeliveryReport,
        notify_failures: bool,
    ) -> None:
        for outcome in report.outcomes:
            if outcome.queued:
                self._audit_queued(origin, report.queue_id, outcome, len(data))
                continue
            self._audit_outcome(origin, report.queue_id, outcome)
            if outcome.delivered is not None:
                await self._keep_grant(sender, outcome.recipient.address, data)
        await self._dsn.send(
            envelope, report, data, notify_failures=notify_failures, arrival=self._clock()
        )
        if report.delivered:
            await self._run_after_delivery(envelope, data, report)

    async def _run_after_delivery(
        self, envelope: Envelope, data: bytes, report: DeliveryReport
    ) -> None:
        for job in self._after:
            try:
                await job(envelope, data, report)
            except Exception:  # a post-delivery job never undoes nor delays the delivery
                log.exception("post-delivery job failed queue_id=%s", report.queue_id)

    async def _keep_grant(self, sender: Party | None, recipient: str, data: bytes) -> None:
        """MSS-PAT-2/3: a professional's message to a patient opens (or ends) the exchange."""
        if sender is None or sender.is_patient_address:
            return
        party = await self._resolver.resolve(recipient)
        if party.patient is None:
            return
        await record_professional_message(self._directory, party.address, data, self._clock())

    def _audit_decision(self, origin: Origin, stage: str, decision: Decision) -> None:
        if decision.accepted:
            return
        self._audit.record(
            AuditEvent.POLICY_DECISION,
            session_id=origin.session_id,
            peer=origin.peer,
            actor=origin.actor,
            stage=stage,
            decision=decision.verdict.value,
            reason=decision.reason.value,
            status=decision.status,
        )

    def _audit_queued(
        self, origin: Origin, queue_id: str, outcome: RecipientOutcome, size: int
    ) -> None:
        self._audit.record(
            AuditEvent.MESSAGE_ACCEPTED,
            session_id=origin.session_id,
            peer=origin.peer,
            actor=origin.actor,
            mailbox=outcome.recipient.address,
            queue_id=queue_id,
            size=size,
        )

    def _audit_outcome(self, origin: Origin, queue_id: str, outcome: RecipientOutcome) -> None:
        if outcome.delivered is None:
            self._audit.record(
                AuditEvent.DELIVERY_FAILED,
                session_id=origin.session_id,
                peer=origin.peer,
                actor=origin.actor,
                mailbox=outcome.recipient.address,
                queue_id=queue_id,
                reason=outcome.decision.reason.value,
                status=outcome.decision.status,
            )
            return
        self._audit.record(
            AuditEvent.MESSAGE_DELIVERED,
            session_id=origin.session_id,
            peer=origin.peer,
            actor=origin.actor,
            mailbox=outcome.recipient.address,
            queue_id=queue_id,
            folder="INBOX",
            uid=outcome.delivered.uid,
        )


def _queued(recipient: Recipient, decision: Decision) -> RecipientOutcome:
    return RecipientOutcome(recipient, decision, queued=decision.accepted)


def _stored(result: Delivered | StoreError) -> tuple[Decision, Delivered | None]:
    if not isinstance(result, StoreError):
        return ACCEPT, result
    log.error("store refused a copy: %s", type(result).__name__)
    if result.temporary:
        return Decision.defer(Reason.STORAGE_FAILED, "4.3.0"), None
    return Decision.reject(Reason.STORAGE_FAILED, "5.3.0"), None


def new_queue_id() -> str:
    return secrets.token_hex(8).upper()
