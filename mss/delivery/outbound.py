"""Remote recipients into the outbound queue, durably before the ``250`` (issue 4, MSS-TRUST-4).

The queued bytes are what leaves us: our ``Received:`` line on top of the message, DKIM-signed
for the sender's domain when a signer is configured (no ``Return-Path:``: that is added at final
delivery, RFC 5321 §4.4). The envelope's DSN parameters (NOTIFY, ORCPT, RET, ENVID) travel with
it so the peer gets them (MSS-MSG-2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from mss.delivery.envelope import Envelope, Recipient
from mss.outbound import Lease, NewMessage, NewRecipient, OutboundQueue, QueuedRecipient
from mss.outbound.models import Ret
from mss.outbound.schedule import RetryPolicy
from mss.policy import ACCEPT, Decision, Reason

log = logging.getLogger(__name__)

Signer = Callable[[bytes, str], bytes]  # (message, sender domain) -> signed message (DKIM)


class Handoff(Protocol):
    """This node's queue worker, taking freshly queued recipients straight away: they are
    stored already held under its lease, so no claim (one commit less) stands between the
    250 and the relay. If the node dies first, the lease runs out and any node claims them."""

    def reserve(self) -> Lease | None:
        """A lease for recipients about to be queued; None when the worker is busy."""
        ...

    def take(self, message: NewMessage, recipients: Sequence[QueuedRecipient]) -> None: ...


class Enqueuer:
    def __init__(
        self,
        queue: OutboundQueue,
        policy: RetryPolicy,
        clock: Callable[[], datetime],
        signer: Signer | None = None,
    ) -> None:
        self.queue = queue
        self._policy = policy
        self._clock = clock
        self._signer = signer
        self.handoff: Handoff | None = None  # set once the workers run (mss.relay.runner)

    async def enqueue(
        self,
        queue_id: str,
        envelope: Envelope,
        recipients: Sequence[Recipient],
        trace: bytes,
        data: bytes,
    ) -> list[Decision]:
        """Queue the message for ``recipients``: one decision each, all accepted or all
        deferred (``4.3.0``: the client keeps the message and tries again)."""
        if not recipients:
            return []
        body = trace + self._signed(data, envelope.sender)
        now = self._clock()
        handoff = self.handoff
        lease = handoff.reserve() if handoff is not None else None
        message = NewMessage(
            queue_id=queue_id,
            sender=envelope.sender,
            recipients=tuple(
                NewRecipient(r.address, r.notify or None, r.orcpt) for r in recipients
            ),
            body=body,
            created_at=now,
            expires_at=self._policy.expires_at(now),
            envid=envelope.envid,
            ret=_ret(envelope.ret),
            smtputf8=_needs_smtputf8(envelope, recipients),
            eight_bit=not data.isascii(),
            lease=lease,
        )
        try:
            stored = await self.queue.enqueue(message)
        except Exception:
            log.exception("outbound queue refused a message queue_id=%s", queue_id)
            return [Decision.defer(Reason.STORAGE_FAILED, "4.3.0")] * len(recipients)
        if handoff is not None and lease is not None:
            handoff.take(message, stored)
        log.info("queued for relay queue_id=%s recipients=%d", queue_id, len(recipients))
        return [ACCEPT] * len(recipients)

    async def enqueue_report(self, queue_id: str, to: str, report: bytes) -> bool:
        """A DSN to a remote sender goes back through the queue with the null sender, so no
        report is ever made about it (MSS-MSG-2: bounces never loop)."""
        envelope = Envelope(sender="", recipients=(Recipient(to),))
        decisions = await self.enqueue(queue_id, envelope, envelope.recipients, b"", report)
        return all(d.accepted for d in decisions)

    def _signed(self, data: bytes, sender: str) -> bytes:
        if self._signer is None or not sender:
            return data
        try:
            return self._signer(data, sender.rpartition("@")[2].lower())
        except Exception:  # an unsigned message still goes: the peer's policy decides
            log.exception("DKIM signing failed; the message leaves unsigned")
            return data


def _ret(value: str | None) -> Ret | None:
    upper = (value or "").upper()
    if upper == "FULL":
        return "FULL"
    if upper == "HDRS":
        return "HDRS"
    return None


def _needs_smtputf8(envelope: Envelope, recipients: Sequence[Recipient]) -> bool:
    """RFC 6531: internationalised addresses need SMTPUTF8 from the peer."""
    return not envelope.sender.isascii() or any(not r.address.isascii() for r in recipients)
