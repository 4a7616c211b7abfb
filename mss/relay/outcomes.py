"""What the relay's answer means for each queued recipient (pure; MSS-MSG-2, issue 4).

Delivered: it leaves the queue, with a ``relayed`` report when the sender asked for success and
the peer will not report itself (no DSN extension). Permanent failure (5xx): it leaves with a
``failed`` report carrying the peer's reply. Temporary failure: it is tried again on the
schedule, with one ``delayed`` report past the warning delay; at the expiry it bounces
(``failed``, 5.4.7, the last reply quoted).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from mss.outbound import Batch, Done, QueuedRecipient, Retry, Settlement
from mss.outbound.relay import RecipientResult, RelayResult
from mss.outbound.schedule import RetryPolicy
from mss.wire.dsn import RecipientReport, wants

EXPIRED = "5.4.7"  # RFC 3463: delivery time expired


@dataclass
class Verdict:
    settlements: list[Settlement] = field(default_factory=list)
    reports: list[RecipientReport] = field(default_factory=list)
    delivered: list[QueuedRecipient] = field(default_factory=list)
    failed: list[tuple[QueuedRecipient, RecipientResult, bool]] = field(default_factory=list)


def judge(batch: Batch, result: RelayResult, now: datetime, policy: RetryPolicy) -> Verdict:
    verdict = Verdict()
    answers = _answers(batch, result)
    for rcpt, answer in zip(batch.recipients, answers, strict=True):
        if answer.delivered:
            _delivered(verdict, batch, rcpt, answer, result.peer_dsn, now)
        elif answer.permanent:
            _bounced(verdict, batch, rcpt, answer, now, answer.enhanced)
        else:
            _deferred(verdict, batch, rcpt, answer, now, policy)
    if not batch.message.sender:  # a report about a report: never (no loops)
        verdict.reports.clear()
    return verdict


def _answers(batch: Batch, result: RelayResult) -> list[RecipientResult]:
    """One answer per recipient; a relay that answered fewer is taken as a temporary error."""
    by_address = {r.address.lower(): r for r in result.results}
    missing = RecipientResult("", 451, "4.3.0", "no answer from the relay for this recipient")
    return [by_address.get(r.address.lower(), missing) for r in batch.recipients]


def _delivered(
    verdict: Verdict,
    batch: Batch,
    rcpt: QueuedRecipient,
    answer: RecipientResult,
    peer_dsn: bool,
    now: datetime,
) -> None:
    verdict.settlements.append(Done(rcpt.id, batch.lease))
    verdict.delivered.append(rcpt)
    if not peer_dsn and wants(rcpt.notify or frozenset(), "relayed"):
        verdict.reports.append(_report(rcpt, "relayed", "2.0.0", answer, now))


def _bounced(
    verdict: Verdict,
    batch: Batch,
    rcpt: QueuedRecipient,
    answer: RecipientResult,
    now: datetime,
    status: str,
) -> None:
    verdict.settlements.append(Done(rcpt.id, batch.lease))
    verdict.failed.append((rcpt, answer, False))
    if wants(rcpt.notify or frozenset(), "failed"):
        final = status if status.startswith("5.") else "5.0.0"
        verdict.reports.append(_report(rcpt, "failed", final, answer, now))


def _deferred(
    verdict: Verdict,
    batch: Batch,
    rcpt: QueuedRecipient,
    answer: RecipientResult,
    now: datetime,
    policy: RetryPolicy,
) -> None:
    message = batch.message
    later = policy.next_attempt(rcpt.attempts + 1, now, message.expires_at)
    if later is None:
        _bounced(verdict, batch, rcpt, answer, now, EXPIRED)
        return
    warn = policy.warn_delay(message.created_at, now, rcpt.delay_notified)
    reply = _reply(answer)
    verdict.settlements.append(Retry(rcpt.id, batch.lease, later, answer.code, reply, warn))
    verdict.failed.append((rcpt, answer, True))
    if warn and wants(rcpt.notify or frozenset(), "delayed"):
        status = answer.enhanced if answer.enhanced.startswith("4.") else "4.0.0"
        report = _report(rcpt, "delayed", status, answer, now)
        verdict.reports.append(dataclasses.replace(report, will_retry_until=message.expires_at))


def _report(
    rcpt: QueuedRecipient, action: str, status: str, answer: RecipientResult, now: datetime
) -> RecipientReport:
    return RecipientReport(
        final_recipient=rcpt.address,
        action=action,
        status=status,
        original_recipient=rcpt.orcpt,
        diagnostic=_reply(answer),
        remote_mta=answer.remote_host or None,
        last_attempt=now,
    )


def _reply(answer: RecipientResult) -> str:
    """The reply as heard, e.g. ``550 5.1.1 unknown user`` (the peer's own words)."""
    return f"{answer.code} {answer.enhanced} {answer.text}".strip()
