"""Send the integration result back to the sender as an MDN (DMP-MDN-1, MSS-MSG-3, RFC 8098).

Only when the original asked for one (``Disposition-Notification-To``) and *(chosen, after RFC 8098
§2.1)* only when that address is the envelope sender: an automatic receipt never goes to a third
address. The report is handed to a ``MdnTransport``: the composition root gives the delivery
service's submit path with the null sender (local senders get it in their mailbox, remote ones
through the outbound queue), so an MDN passes the same rules as any other message.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from mss.dmp.filing import FilingOutcome
from mss.wire.mdn import build_mdn, disposition_notification_to

log = logging.getLogger(__name__)


class MdnTransport(Protocol):
    async def __call__(self, recipient: str, message: bytes) -> bool:
        """Submit ``message`` to ``recipient`` with the null sender; True when it was accepted."""
        ...


class MdnSender:
    def __init__(
        self,
        transport: MdnTransport,
        *,
        hostname: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._transport = transport
        self._hostname = hostname
        self._clock = clock

    async def send(
        self, *, envelope_sender: str, patient: str, original: bytes, outcome: FilingOutcome
    ) -> bool:
        """Send the MDN ``original`` asked for, if any; True when it was accepted."""
        request = disposition_notification_to(original)
        if request is None or not envelope_sender:
            return False
        if request.notify_to.lower() != envelope_sender.lower():  # RFC 8098 §2.1
            log.info("mdn not sent: Disposition-Notification-To differs from the envelope sender")
            return False
        message = build_mdn(
            reporting_ua=self._hostname,
            sender=patient,
            recipient=request.notify_to,
            final_recipient=patient,
            original=original,
            disposition=outcome.disposition,
            message_id=f"{secrets.token_hex(12)}@{self._hostname}",
            now=self._clock(),
        )
        accepted = await self._transport(request.notify_to, message)
        log.info("mdn result=%s accepted=%s", outcome.result, accepted)
        return accepted
