"""Assemble the notification outbox, hook, transport and job from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import Settings
from dmp_bridge.store.interfaces import DmpStore
from mss.notify.content import Envelope
from mss.notify.hook import Directory, NotifyHook
from mss.notify.job import Internal, JobSettings, NotificationJob
from mss.notify.outbox import DmpAttempts, PatientOutbox
from mss.notify.schedule import RetrySchedule
from mss.notify.transport import SmarthostTransport, Transport


@dataclass(frozen=True)
class Notifications:
    outbox: PatientOutbox
    attempts: DmpAttempts
    hook: NotifyHook
    job: NotificationJob | None  # None when no smarthost is configured: rows are kept


def build_notifications(
    settings: Settings,
    *,
    engine: AsyncEngine,
    directory: Directory,
    dmp: DmpStore | None,
    transport: Transport | None = None,
    internal: Internal | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Notifications:
    notify = settings.notify
    outbox = PatientOutbox(engine, window=timedelta(seconds=notify.coalesce_window))
    attempts = DmpAttempts(engine)
    if transport is None and notify.smarthost:
        transport = SmarthostTransport(notify)
    job = None
    if transport is not None:
        job = NotificationJob(
            outbox=outbox,
            attempts=attempts,
            dmp=dmp,
            directory=directory,
            transport=transport,
            internal=internal,
            settings=job_settings(settings),
            clock=clock,
        )
    hook = NotifyHook(
        outbox=outbox, directory=directory, clock=clock, wake=job.wake if job else lambda: None
    )
    return Notifications(outbox, attempts, hook, job)


def job_settings(settings: Settings) -> JobSettings:
    notify, hostname = settings.notify, settings.smtp.hostname
    return JobSettings(
        envelope=Envelope(
            sender=notify.sender or f"ne-pas-repondre@{hostname}",
            link=notify.webmail_url or f"https://{hostname}/",
            hostname=hostname,
        ),
        patient_domain=settings.policy.patient_domain,
        schedule=RetrySchedule.from_settings(notify),
        poll_interval=notify.poll_interval,
    )
