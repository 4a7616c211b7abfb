"""When to try again, when to warn of a delay and when to give up (pure; MSS-MSG-2).

Retries follow ``outbound.retry_schedule`` (its last value repeats); the last attempt is made
at the expiry itself, then the message bounces. A ``delayed`` report goes once, when a
temporary failure happens ``delay_warning`` after the message was queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import OutboundSettings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    schedule: tuple[timedelta, ...]
    expiry: timedelta
    delay_warning: timedelta | None  # None: never warn

    @classmethod
    def from_settings(cls, settings: OutboundSettings) -> RetryPolicy:
        return cls(
            schedule=tuple(timedelta(seconds=s) for s in settings.retry_schedule),
            expiry=timedelta(seconds=settings.expiry),
            delay_warning=timedelta(seconds=settings.delay_warning)
            if settings.delay_warning
            else None,
        )

    def expires_at(self, created: datetime) -> datetime:
        return created + self.expiry

    def next_attempt(self, failures: int, now: datetime, expires_at: datetime) -> datetime | None:
        """After the ``failures``-th temporary failure: when to try again, None to give up."""
        if now >= expires_at:
            return None
        step = self.schedule[min(max(failures, 1), len(self.schedule)) - 1]
        return min(now + step, expires_at)

    def warn_delay(self, created: datetime, now: datetime, already_warned: bool) -> bool:
        if self.delay_warning is None or already_warned:
            return False
        return now - created >= self.delay_warning
