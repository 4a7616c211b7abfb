"""Wiring of the outbound side for the composition root: the queue and its enqueuer (with the
DKIM signer), and the running workers with the SMTP relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from mailbox_store.blobs import KeyRing
from mss.audit import AuditLog
from mss.delivery.outbound import Enqueuer, Signer
from mss.dkim.config import outbound_signer
from mss.outbound import OutboundQueue, SqlOutboundQueue
from mss.outbound.schedule import RetryPolicy
from mss.relay.client import SmtpRelay, TrustList
from mss.relay.worker import QueueWorker, Reporter, WorkerSettings

log = logging.getLogger(__name__)


def build_enqueuer(settings: Settings, engine: AsyncEngine, keyring: KeyRing) -> Enqueuer:
    queue = SqlOutboundQueue(engine, keyring)
    return Enqueuer(
        queue,
        RetryPolicy.from_settings(settings.outbound),
        lambda: datetime.now(UTC),
        signer=_signer(settings),
    )


def _signer(settings: Settings) -> Signer | None:
    if not settings.outbound.dkim_selector:
        return None
    signer = outbound_signer(settings.outbound)
    return signer.sign if signer.domains else None


@asynccontextmanager
async def relaying(
    settings: Settings,
    *,
    queue: OutboundQueue,
    reporter: Reporter,
    trust: TrustList,
    audit: AuditLog,
    enqueuer: Enqueuer | None = None,
) -> AsyncIterator[QueueWorker]:
    """The queue's worker running with the SMTP relay until the context exits; handed to the
    ``enqueuer`` so that fresh messages go out without waiting for a claim."""
    relay = SmtpRelay(
        outbound=settings.outbound,
        tls=settings.tls,
        hostname=settings.smtp.hostname,
        trust=trust,
    )
    worker = QueueWorker(
        queue=queue,
        relay=relay,
        reporter=reporter,
        policy=RetryPolicy.from_settings(settings.outbound),
        settings=WorkerSettings.from_settings(settings.outbound),
        audit=audit,
    )
    task = asyncio.create_task(worker.run(), name="outbound-queue")
    if enqueuer is not None:
        enqueuer.handoff = worker
    try:
        yield worker
    finally:
        if enqueuer is not None:
            enqueuer.handoff = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await relay.close()
