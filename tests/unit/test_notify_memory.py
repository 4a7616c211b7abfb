"""An idle subscription holds no queue (issue 3: one per idle IMAP session, 2,000 of them), and
the lazily made one still keeps the hub's promises: order, drop-oldest, close wakes the reader."""

from __future__ import annotations

import asyncio
import sys

import pytest

from mailbox_store.models import Change, ChangeKind
from mailbox_store.notify import ChangeHub, ChangeSubscription


def change(folder: int) -> Change:
    return Change("a@x", folder, ChangeKind.EXISTS)


def held(subscription: ChangeSubscription) -> int:
    """Bytes of the objects the subscription holds for its queue and its reader."""
    return sum(
        sys.getsizeof(value)
        for value in (subscription._queue, subscription._waiter)
        if value is not None
    )


async def test_an_idle_subscription_holds_no_queue() -> None:
    hub = ChangeHub(queue_size=4)
    subscription = hub.subscribe("a@x")
    assert held(subscription) == 0
    hub.publish(change(1))
    hub.publish(change(2))
    assert subscription.pending() == 2
    assert [(await anext(subscription)).folder_id for _ in range(2)] == [1, 2]
    assert held(subscription) == 0  # drained: back to nothing
    subscription.close()


async def test_a_waiting_reader_is_woken_by_a_change_then_by_close() -> None:
    hub = ChangeHub(queue_size=4)
    subscription = hub.subscribe("a@x")
    reader = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    hub.publish(change(7))
    assert (await reader).folder_id == 7
    waiting = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0)
    subscription.close()
    with pytest.raises(StopAsyncIteration):
        await waiting
    assert held(subscription) == 0


async def test_a_full_queue_drops_the_oldest_and_says_so() -> None:
    hub = ChangeHub(queue_size=2)
    subscription = hub.subscribe("a@x")
    for folder in (1, 2, 3):
        hub.publish(change(folder))
    assert subscription.take_overflow() is True
    assert subscription.dropped == 1
    assert [(await anext(subscription)).folder_id for _ in range(2)] == [2, 3]
    subscription.close()
