"""The outbound queue in memory: the contract suite's reference and the workers' unit tests."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from mss.outbound.models import (
    Batch,
    Done,
    NewMessage,
    QueuedMessage,
    QueuedRecipient,
    Settlement,
)


@dataclasses.dataclass
class _Held:
    recipient: QueuedRecipient
    lease: str | None = None


class MemoryOutboundQueue:
    def __init__(self) -> None:
        self._messages: dict[str, tuple[NewMessage, datetime]] = {}
        self._recipients: dict[int, _Held] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._enqueued = asyncio.Event()

    async def enqueue(self, message: NewMessage) -> tuple[QueuedRecipient, ...]:
        if not message.recipients:
            raise ValueError("an outbound message needs at least one recipient")
        if message.queue_id in self._messages:
            raise ValueError(f"queue id {message.queue_id} is taken")
        held = message.lease
        stored = []
        async with self._lock:
            self._messages[message.queue_id] = (message, message.created_at)
            for rcpt in message.recipients:
                rid = next(self._ids)
                recipient = QueuedRecipient(
                    id=rid,
                    queue_id=message.queue_id,
                    address=rcpt.address,
                    domain=rcpt.domain,
                    notify=rcpt.notify,
                    orcpt=rcpt.orcpt,
                    next_attempt=held.until if held else message.created_at,
                )
                self._recipients[rid] = _Held(recipient, held.token if held else None)
                stored.append(recipient)
        if held is None:
            self._enqueued.set()
        return tuple(stored)

    @property
    def enqueued(self) -> asyncio.Event:
        return self._enqueued

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[Batch]:
        token, until = secrets.token_hex(16), now + lease
        async with self._lock:
            due = sorted(
                (h for h in self._recipients.values() if h.recipient.next_attempt <= now),
                key=lambda h: (h.recipient.next_attempt, h.recipient.id),
            )[:limit]
            groups: dict[tuple[str, str], list[QueuedRecipient]] = defaultdict(list)
            for held in due:
                held.lease = token
                held.recipient = dataclasses.replace(held.recipient, next_attempt=until)
                groups[(held.recipient.queue_id, held.recipient.domain)].append(held.recipient)
            return [
                Batch(
                    self._view(queue_id, tuple(group)),
                    domain,
                    tuple(group),
                    self._messages[queue_id][0].body,
                    token,
                    until,
                )
                for (queue_id, domain), group in groups.items()
            ]

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        applied = 0
        async with self._lock:
            for item in settlements:
                held = self._recipients.get(item.recipient_id)
                if held is None or held.lease != item.lease:
                    continue
                applied += 1
                if isinstance(item, Done):
                    del self._recipients[item.recipient_id]
                    self._drop_if_finished(held.recipient.queue_id)
                    continue
                held.lease = None
                held.recipient = dataclasses.replace(
                    held.recipient,
                    next_attempt=item.next_attempt,
                    attempts=held.recipient.attempts + 1,
                    last_code=item.code,
                    last_reply=item.reply,
                    delay_notified=held.recipient.delay_notified or item.delay_notified,
                )
        return applied

    def _drop_if_finished(self, queue_id: str) -> None:
        if not any(h.recipient.queue_id == queue_id for h in self._recipients.values()):
            self._messages.pop(queue_id, None)

    async def next_due(self) -> datetime | None:
        return min((h.recipient.next_attempt for h in self._recipients.values()), default=None)

    async def list_messages(self) -> list[QueuedMessage]:
        ordered = sorted(self._messages.values(), key=lambda m: (m[1], m[0].queue_id))
        return [self._view(m.queue_id, self._of(m.queue_id)) for m, _ in ordered]

    async def get(self, queue_id: str) -> QueuedMessage | None:
        if queue_id not in self._messages:
            return None
        return self._view(queue_id, self._of(queue_id))

    async def body(self, queue_id: str) -> bytes | None:
        found = self._messages.get(queue_id)
        return found[0].body if found else None

    async def retry_now(self, queue_id: str, now: datetime) -> bool:
        changed = False
        async with self._lock:
            for held in self._recipients.values():
                if held.recipient.queue_id == queue_id:
                    held.lease = None
                    held.recipient = dataclasses.replace(held.recipient, next_attempt=now)
                    changed = True
        self._enqueued.set()
        return changed

    async def delete(self, queue_id: str) -> bool:
        async with self._lock:
            for rid in [r.id for r in self._of(queue_id)]:
                del self._recipients[rid]
            return self._messages.pop(queue_id, None) is not None

    async def close(self) -> None:
        return None

    def _of(self, queue_id: str) -> tuple[QueuedRecipient, ...]:
        held = (h.recipient for h in self._recipients.values() if h.recipient.queue_id == queue_id)
        return tuple(sorted(held, key=lambda r: r.id))

    def _view(self, queue_id: str, rcpts: tuple[QueuedRecipient, ...]) -> QueuedMessage:
        m = self._messages[queue_id][0]
        return QueuedMessage(
            queue_id=m.queue_id,
            sender=m.sender,
            created_at=m.created_at,
            expires_at=m.expires_at,
            size=len(m.body),
            recipients=rcpts,
            envid=m.envid,
            ret=m.ret,
            smtputf8=m.smtputf8,
            eight_bit=m.eight_bit,
        )
