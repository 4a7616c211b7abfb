"""When a notification is tried again and when it is given up: pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    delays: tuple[float, ...]  # seconds before each retry; the last one repeats
    expiry: timedelta  # counted from the row's creation
    lease: timedelta  # how long a claimed row stays away from other senders

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> RetrySchedule:
        # a claim outlives one whole SMTP conversation: connect, EHLO, STARTTLS, AUTH, send
        return cls(
            delays=tuple(settings.retry_schedule),
            expiry=timedelta(seconds=settings.expiry),
            lease=timedelta(seconds=8 * settings.timeout + 60),
        )

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """The time of the next try after ``attempts`` failed ones (``attempts`` >= 1)."""
        index = min(max(attempts, 1), len(self.delays)) - 1
        return now + timedelta(seconds=self.delays[index])

    def expired(self, created_at: datetime, now: datetime) -> bool:
        return now - created_at >= self.expiry
