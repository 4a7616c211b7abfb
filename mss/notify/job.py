"""The sending job: due rows of both outboxes — new messages (``ntf_notifications``, MSS-PAT-7)
and the DMP's (``dmp_notifications``, DMP-AUD-1, DMP-ACL-3) — become e-mails to the patient's
personal address through the smarthost.

A patient without a personal address: the row is marked ``skipped``. A refusal for good (5xx to
the recipient or the message): ``refused``. Anything else is tried again on the retry schedule
until the expiry, then ``expired``; each of these is logged (row id and kind, never an address,
an INS or content). A DMP row that is finished here is also marked sent in the DMP outbox (its
only state), so it leaves ``due_notifications``; its true outcome is in ``ntf_dmp_attempts``.

The médecin traitant's copy of an emergency access (DMP-ACL-3) is addressed by RPPS: it goes to
their MSSanté mailbox through the operator's own delivery path (``internal``), never through the
smarthost; skipped when no BAL of ours carries that RPPS or no internal path is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from dmp_bridge.store.access_models import Notification, NotificationKind, RecipientKind
from dmp_bridge.store.interfaces import DmpStore
from mss.notify.content import Envelope, Notice, Topic, render
from mss.notify.doctor import render_for_doctor
from mss.notify.hook import Directory
from mss.notify.names import mailbox_of, professional_name
from mss.notify.outbox import DmpAttempts, PatientNotice, PatientOutbox, State
from mss.notify.schedule import RetrySchedule
from mss.notify.transport import SendResult, Transport

log = logging.getLogger(__name__)

DMP_BATCH = 500  # DMP rows looked at per scan (those waiting for a retry are among them)

_TOPICS = {
    NotificationKind.FIRST_ACCESS: Topic.FIRST_ACCESS,
    NotificationKind.NEW_DOCUMENT: Topic.NEW_DOCUMENT,
    NotificationKind.EMERGENCY_ACCESS: Topic.EMERGENCY_ACCESS,
}


@dataclass(frozen=True, slots=True)
class JobSettings:
    envelope: Envelope  # From, webmail link, Message-ID host
    patient_domain: str
    schedule: RetrySchedule
    poll_interval: float


Internal = Callable[[str, bytes], Awaitable[bool]]  # (MSSanté address, message) -> delivered


class NotificationJob:
    def __init__(
        self,
        *,
        internal: Internal | None = None,
        outbox: PatientOutbox,
        attempts: DmpAttempts,
        dmp: DmpStore | None,
        directory: Directory,
        transport: Transport,
        settings: JobSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._outbox = outbox
        self._attempts = attempts
        self._dmp = dmp
        self._directory = directory
        self._transport = transport
        self._settings = settings
        self._clock = clock
        self._internal = internal
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Scan forever: at start (rows left by a crash), on wake-ups and every poll interval."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.exception("notification job failed; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)

    async def run_once(self) -> int:
        """Send what is due now; the number of rows finished or rescheduled."""
        done = 0
        now = self._clock()
        for notice in await self._outbox.claim_due(now, self._settings.schedule.lease):
            await self._patient_notice(notice)
            done += 1
        if (dmp := self._dmp) is not None:
            rows = await dmp.due_notifications(now, limit=DMP_BATCH)
            waiting = await self._attempts.waiting([row.id for row in rows], now) if rows else set()
            for row in rows:
                if row.id not in waiting:
                    done += await self._dmp_notice(dmp, row, now)
        return done

    async def _patient_notice(self, notice: PatientNotice) -> None:
        """MSS-PAT-7: one e-mail for the messages gathered in the row."""
        message = Notice(Topic.NEW_MESSAGE, "", notice.names, notice.messages)
        result = await self._released(
            self._send(notice.address, message), self._outbox.retry, notice.id
        )
        await self._settle(
            "message",
            notice.id,
            notice.due_at,
            notice.attempts,
            result,
            self._outbox.finish,
            self._outbox.retry,
        )

    async def _dmp_notice(self, dmp: DmpStore, row: Notification, now: datetime) -> int:
        """DMP-AUD-1, DMP-ACL-3: a first access, a new document, an emergency access."""
        claim = await self._attempts.claim(row.id, row.due_at, now, self._settings.schedule.lease)
        if claim is None:
            return 0
        name = await professional_name(self._directory, row.actor_id)
        if row.recipient_kind is RecipientKind.PATIENT:
            message = Notice(_TOPICS[row.kind], "", (name,))
            sending = self._send(f"{row.ins}@{self._settings.patient_domain}", message)
        else:
            sending = self._to_treating_doctor(row, name)
        result = await self._released(sending, self._attempts.retry, row.id)
        finished = await self._settle(
            row.kind.value,
            row.id,
            row.due_at,
            claim.attempts,
            result,
            self._attempts.finish,
            self._attempts.retry,
        )
        if finished:
            await dmp.mark_notification_sent(row.id, self._clock())
        return 1

    async def _released(
        self,
        sending: Awaitable[SendResult | None],
        retry: Callable[[int, datetime, str], Awaitable[None]],
        row_id: int,
    ) -> SendResult | None:
        """A stop during the send hands the row back at once (a crash: after the lease)."""
        try:
            return await sending
        except asyncio.CancelledError:
            await retry(row_id, self._clock(), "stopped")
            raise

    async def _to_treating_doctor(self, row: Notification, actor: str) -> SendResult | None:
        """DMP-ACL-3: the médecin traitant hears of an emergency access, in their BAL."""
        mailbox = await mailbox_of(self._directory, row.recipient)
        if mailbox is None or self._internal is None:
            return None
        now = self._clock()
        data = render_for_doctor(mailbox.address, row.ins, actor, self._settings.envelope, now)
        delivered = await self._internal(mailbox.address, data)
        return SendResult(ok=delivered, error="" if delivered else "internal delivery failed")

    async def _send(self, address: str, notice: Notice) -> SendResult | None:
        """The e-mail to the patient's personal address; None when there is none (skipped)."""
        patient = await self._directory.get_patient(address)
        if patient is None or not patient.notification_email:
            return None
        to = patient.notification_email
        envelope = self._settings.envelope
        data = render(Notice(notice.topic, to, notice.names, notice.count), envelope, self._clock())
        return await self._transport.send(envelope.sender, to, data)

    async def _settle(
        self,
        kind: str,
        row_id: int,
        due_at: datetime,
        attempts: int,
        result: SendResult | None,
        finish: Callable[..., Awaitable[None]],
        retry: Callable[[int, datetime, str], Awaitable[None]],
    ) -> bool:
        """Record the outcome of one try; True when the row is finished."""
        now = self._clock()
        schedule = self._settings.schedule
        if result is None:
            log.info("notification skipped id=%d kind=%s reason=no_address", row_id, kind)
            await finish(row_id, State.SKIPPED, now, "no address")
        elif result.ok:
            log.info("notification sent id=%d kind=%s attempts=%d", row_id, kind, attempts)
            await finish(row_id, State.SENT, now)
        elif result.permanent:
            log.warning("notification refused id=%d kind=%s error=%s", row_id, kind, result.error)
            await finish(row_id, State.REFUSED, now, result.error)
        elif schedule.expired(due_at, now):
            log.warning(
                "notification expired id=%d kind=%s attempts=%d error=%s",
                row_id,
                kind,
                attempts,
                result.error,
            )
            await finish(row_id, State.EXPIRED, now, result.error)
        else:
            log.info("notification deferred id=%d kind=%s error=%s", row_id, kind, result.error)
            await retry(row_id, schedule.next_attempt(attempts, now), result.error)
            return False
        return True
