"""Delivery status notifications for what happened after a message was accepted (MSS-MSG-2).

Success reports when ``NOTIFY=SUCCESS`` was asked (RFC 3461 §4.1); failure reports for copies that
failed after acceptance. Reports go into a local sender's mailbox, or back through the outbound
queue to a remote sender (with the null sender). The queue's workers report through
:meth:`DsnSender.deliver_report` too (delayed, failed, relayed). Never a report about a report: a
null sender gets nothing (RFC 3461 §6.2).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from mailbox_store.interfaces import MailboxStore
from mailbox_store.models import Delivery
from mss.delivery.envelope import DeliveryReport, Envelope, RecipientOutcome
from mss.delivery.outbound import Enqueuer
from mss.delivery.parties import Resolver
from mss.policy.texts import REASON_TEXT
from mss.wire.dsn import RecipientReport, build_dsn, wants
from mss.wire.smtp_codes import basic_code

log = logging.getLogger(__name__)


class DsnSender:
    def __init__(
        self,
        *,
        store: MailboxStore,
        resolver: Resolver,
        hostname: str,
        outbound: Enqueuer | None = None,
    ) -> None:
        self._store = store
        self._resolver = resolver
        self._hostname = hostname
        self._outbound = outbound

    async def send(
        self,
        envelope: Envelope,
        report: DeliveryReport,
        original: bytes,
        *,
        notify_failures: bool,
        arrival: datetime,
    ) -> bool:
        """Deliver the report the sender asked for, if any; True when one was filed."""
        if not envelope.sender:
            return False
        reports = [
            r for o in report.outcomes if (r := self._report(o, notify_failures)) is not None
        ]
        if not reports:
            return False
        return await self.deliver_report(
            envelope.sender,
            reports,
            original,
            envid=envelope.envid,
            ret=envelope.ret,
            arrival=arrival,
        )

    async def deliver_report(
        self,
        to: str,
        reports: Sequence[RecipientReport],
        original: bytes,
        *,
        envid: str | None,
        ret: str | None,
        arrival: datetime,
        now: datetime | None = None,
    ) -> bool:
        """Build the report and file it in ``to``'s mailbox here, or queue it for ``to``'s
        operator; True when it is durably stored or queued. Nothing for the null sender."""
        if not to or not reports:
            return False
        sender = await self._resolver.resolve(to)
        message = build_dsn(
            reporting_mta=self._hostname,
            postmaster=f"postmaster@{self._hostname}",
            recipient=sender.address,
            original=original,
            reports=reports,
            envid=envid,
            ret=ret,
            arrival=arrival,
            message_id=f"<{secrets.token_hex(12)}@{self._hostname}>",
            now=now,
        )
        if sender.mailbox is None and sender.patient is None:
            return await self._queue_remote(sender.address, message)
        results = await self._store.deliver(message, [Delivery(account=sender.address)])
        return not isinstance(results[0], Exception)

    async def _queue_remote(self, to: str, message: bytes) -> bool:
        if self._outbound is None:
            log.warning("dsn for a remote sender dropped: no outbound queue")
            return False
        queue_id = secrets.token_hex(8).upper()
        return await self._outbound.enqueue_report(queue_id, to, message)

    def _report(self, outcome: RecipientOutcome, notify_failures: bool) -> RecipientReport | None:
        rcpt = outcome.recipient
        if outcome.queued:  # the queue's workers report on it once they know
            return None
        if outcome.delivered is not None:
            if not wants(rcpt.notify, "delivered"):
                return None
            return RecipientReport(
                final_recipient=rcpt.address,
                action="delivered",
                status="2.0.0",
                original_recipient=rcpt.orcpt,
            )
        if not notify_failures or not wants(rcpt.notify, "failed"):
            return None
        status = outcome.decision.status
        text = REASON_TEXT[outcome.decision.reason]
        return RecipientReport(
            final_recipient=rcpt.address,
            action="failed",
            status=status if status.startswith("5") else "5" + status[1:],
            original_recipient=rcpt.orcpt,
            diagnostic=f"{basic_code(status)} {status} {text}",
        )
