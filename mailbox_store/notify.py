"""In-process change notifications per account: what IMAP IDLE waits on.

The stores call ``ChangeHub.publish`` once per committed change, in commit order. ``publish`` is
the single entry point: a cross-node hub (PostgreSQL ``LISTEN/NOTIFY``) will override it to also
send the change to the other nodes, and call ``dispatch`` with what it receives from them.

Slow subscribers never block publishers. Each subscription has a bounded queue; when it is full, the
*oldest* change is dropped and the subscription is marked as overflowed. A change is a wake-up and a
hint, not the source of truth: a consumer that sees ``take_overflow()`` return True must re-read the
folder state from the store (for IMAP: a full resynchronisation of the selected folder) rather than
trust the changes it still holds. Dropping the oldest keeps the most recent hints, which are the
ones closest to the current state. ``resync`` marks a subscription the same way when changes may
have been missed elsewhere (the cross-node hub lost its connection), and wakes its reader with a
``Change`` of folder ``RESYNC_FOLDER`` that stands for nothing but "re-read".

Everything here runs on the event loop thread; ``publish`` must not be called from other threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

from mailbox_store.models import Change, ChangeKind

DEFAULT_QUEUE_SIZE = 1024
RESYNC_FOLDER = 0  # no folder has this id: a wake-up that carries no change of its own


class ChangeSubscription:
    """Changes of one account from the moment of subscribing; iterate it, then ``close()`` it."""

    def __init__(self, hub: ChangeHub, account: str, queue_size: int) -> None:
        self.account = account
        self.dropped = 0
        self._hub = hub
        # A deque only while changes wait, and one future only while the reader waits: an
        # asyncio.Queue costs ~3 KB per idle IMAP session (issue 3: 2,000 idle connections).
        self._queue: deque[Change] | None = None
        self._queue_size = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._overflowed = False
        self._closed = False

    def offer(self, change: Change) -> None:
        """Queue ``change`` without waiting; drop the oldest change if the queue is full."""
        if self._closed:
            return
        if self._queue is None:
            self._queue = deque()
        elif len(self._queue) >= self._queue_size:
            self._queue.popleft()
            self._overflowed = True
            self.dropped += 1
        self._queue.append(change)
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def resync(self) -> None:
        """Changes may have been missed: mark the subscription overflowed and wake its reader."""
        if self._closed:
            return
        self.offer(Change(self.account, RESYNC_FOLDER, ChangeKind.FOLDERS))
        self._overflowed = True

    def take_overflow(self) -> bool:
        """True (once) if changes were dropped since the last call: the consumer must resync."""
        overflowed, self._overflowed = self._overflowed, False
        return overflowed

    def pending(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def close(self) -> None:
        """Unregister; a reader waiting in ``async for`` stops at once."""
        if self._closed:
            return
        self._closed = True
        self._hub.unsubscribe(self)
        self._queue = None
        self._wake()

    def __aiter__(self) -> ChangeSubscription:
        return self

    async def __anext__(self) -> Change:
        while not self._closed:
            queue = self._queue
            if queue:
                change = queue.popleft()
                if not queue:
                    self._queue = None  # idle again: no memory held
                return change
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        raise StopAsyncIteration

    def __enter__(self) -> ChangeSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ChangeHub:
    """Fans changes out to the subscriptions of their account."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscriptions: dict[str, set[ChangeSubscription]] = {}

    def subscribe(self, account: str) -> ChangeSubscription:
        subscription = ChangeSubscription(self, account, self._queue_size)
        self._subscriptions.setdefault(account, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: ChangeSubscription) -> None:
        subscriptions = self._subscriptions.get(subscription.account)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subscriptions[subscription.account]

    def publish(self, change: Change) -> None:
        """The one entry point of the stores, called after the change is committed."""
        self.dispatch(change)

    def dispatch(self, change: Change) -> None:
        """Hand ``change`` to the local subscribers of its account."""
        for subscription in tuple(self._subscriptions.get(change.account, ())):
            subscription.offer(change)

    def resync_all(self) -> None:
        """Tell every subscription to re-read its state (changes may have been missed)."""
        for subscriptions in tuple(self._subscriptions.values()):
            for subscription in tuple(subscriptions):
                subscription.resync()

    def subscriber_count(self, account: str) -> int:
        return len(self._subscriptions.get(account, ()))

    def accounts(self) -> frozenset[str]:
        """Accounts with at least one subscription on this node."""
        return frozenset(self._subscriptions)
