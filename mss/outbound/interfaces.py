"""The outbound queue's port: consumers (delivery, workers, CLI) type against ``OutboundQueue``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from mss.outbound.models import Batch, NewMessage, QueuedMessage, QueuedRecipient, Settlement


class OutboundQueue(Protocol):
    async def enqueue(self, message: NewMessage) -> tuple[QueuedRecipient, ...]:
        """Store the message and its recipients; durable when this returns (before the 250).

        With ``message.lease`` the recipients are stored held by that lease (the enqueuing
        node's worker delivers them at once, without a claim); otherwise they are due now.
        """
        ...

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[Batch]:
        """Take up to ``limit`` due recipients nobody holds, grouped by message and domain.

        Two claimers never get the same recipient while its lease runs (``FOR UPDATE SKIP
        LOCKED`` on PostgreSQL, the write lock on SQLite).
        """
        ...

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        """Record outcomes, all in one transaction. A settlement whose lease ran out (another
        worker took the recipient over) changes nothing. Returns how many were applied."""
        ...

    @property
    def enqueued(self) -> asyncio.Event:
        """Set when work was added on this node, or on another one that signalled it
        (PostgreSQL NOTIFY, ``mss.cluster``): workers wake up at once, and clear it."""
        ...

    async def next_due(self) -> datetime | None:
        """When the earliest recipient comes due (None: the queue is empty)."""
        ...

    async def list_messages(self) -> list[QueuedMessage]: ...

    async def get(self, queue_id: str) -> QueuedMessage | None: ...

    async def body(self, queue_id: str) -> bytes | None: ...

    async def retry_now(self, queue_id: str, now: datetime) -> bool:
        """Make every recipient of the message due now (and free of any lease)."""
        ...

    async def delete(self, queue_id: str) -> bool:
        """Remove the message and its recipients without any report (an administrator's act)."""
        ...

    async def close(self) -> None: ...
