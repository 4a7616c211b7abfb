"""The change hub: per-account fan-out, closing, and the overflow policy of slow subscribers."""

from __future__ import annotations

import asyncio

import pytest

from mailbox_store.models import Change, ChangeKind
from mailbox_store.notify import RESYNC_FOLDER, ChangeHub, ChangeSubscription

ALICE = "alice@hopital.mssante.fr"
BOB = "bob@hopital.mssante.fr"


def exists(uid: int, account: str = ALICE) -> Change:
    return Change(account, 1, ChangeKind.EXISTS, (uid,), uid + 1)


async def take(subscription: ChangeSubscription, count: int) -> list[Change]:
    async def collect() -> list[Change]:
        return [await anext(subscription) for _ in range(count)]

    return await asyncio.wait_for(collect(), 2)


async def test_subscriber_gets_its_account_changes_in_order() -> None:
    hub = ChangeHub()
    alice = hub.subscribe(ALICE)
    for uid in (1, 2, 3):
        hub.publish(exists(uid))
    hub.publish(exists(9, BOB))
    assert [c.uids for c in await take(alice, 3)] == [(1,), (2,), (3,)]
    assert alice.pending() == 0


async def test_every_subscriber_of_an_account_gets_each_change() -> None:
    hub = ChangeHub()
    first, second, bob = hub.subscribe(ALICE), hub.subscribe(ALICE), hub.subscribe(BOB)
    hub.publish(exists(1))
    assert await take(first, 1) == await take(second, 1) == [exists(1)]
    assert bob.pending() == 0


async def test_changes_before_subscribing_are_not_seen() -> None:
    hub = ChangeHub()
    hub.publish(exists(1))
    late = hub.subscribe(ALICE)
    hub.publish(exists(2))
    assert await take(late, 1) == [exists(2)]


async def test_a_waiting_reader_wakes_up_on_publish() -> None:
    hub = ChangeHub()
    subscription = hub.subscribe(ALICE)
    reader = asyncio.create_task(take(subscription, 1))
    await asyncio.sleep(0)
    assert not reader.done()
    hub.publish(exists(7))
    assert await reader == [exists(7)]


async def test_close_unregisters_and_ends_iteration() -> None:
    hub = ChangeHub()
    subscription = hub.subscribe(ALICE)
    hub.publish(exists(1))
    assert hub.subscriber_count(ALICE) == 1
    subscription.close()
    assert hub.subscriber_count(ALICE) == 0
    hub.publish(exists(2))
    assert [c async for c in subscription] == []
    subscription.close()  # twice is harmless


async def test_close_stops_a_reader_that_is_waiting() -> None:
    hub = ChangeHub()
    subscription = hub.subscribe(ALICE)

    async def read_all() -> list[Change]:
        return [c async for c in subscription]

    reader = asyncio.create_task(read_all())
    await asyncio.sleep(0)
    subscription.close()
    assert await asyncio.wait_for(reader, 2) == []


async def test_context_manager_closes() -> None:
    hub = ChangeHub()
    with hub.subscribe(ALICE) as subscription:
        assert hub.subscriber_count(ALICE) == 1
    assert hub.subscriber_count(ALICE) == 0
    assert [c async for c in subscription] == []


async def test_slow_subscriber_drops_oldest_and_is_flagged() -> None:
    """Publishing never blocks: a full queue loses its oldest change and reports the overflow."""
    hub = ChangeHub(queue_size=3)
    slow, other = hub.subscribe(ALICE), hub.subscribe(ALICE)
    assert not slow.take_overflow()
    for uid in range(1, 6):
        hub.publish(exists(uid))
    assert slow.dropped == 2
    assert slow.take_overflow()
    assert not slow.take_overflow()  # reported once
    assert [c.uids for c in await take(slow, 3)] == [(3,), (4,), (5,)]
    assert [c.uids for c in await take(other, 3)] == [(3,), (4,), (5,)]
    hub.publish(exists(6))
    assert not slow.take_overflow()
    assert await take(slow, 1) == [exists(6)]


def test_publish_without_subscribers_is_a_no_op() -> None:
    hub = ChangeHub()
    hub.publish(exists(1))
    assert hub.subscriber_count(ALICE) == 0


def test_queue_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        ChangeHub(queue_size=0)


async def test_resync_wakes_every_reader_and_flags_the_overflow() -> None:
    """What a cross-node hub does after reconnecting: changes may have been missed."""
    hub = ChangeHub()
    alice, bob = hub.subscribe(ALICE), hub.subscribe(BOB)
    hub.resync_all()
    for subscription in (alice, bob):
        [wake_up] = await take(subscription, 1)
        assert wake_up.folder_id == RESYNC_FOLDER
        assert subscription.take_overflow()
    assert hub.accounts() == {ALICE, BOB}
    bob.close()
    bob.resync()  # closed: nothing
    assert not bob.take_overflow()
    assert [c async for c in bob] == []
    assert hub.accounts() == {ALICE}
