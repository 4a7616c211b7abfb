"""One outbound-queue suite for every backend: memory, SQLite and PostgreSQL (issue 4, item 1).

A queued message is durable (another connection, a new engine, sees it), its body is sealed at
rest, two concurrent claimers never hold the same recipient, retries and leases behave, and
delivered or deleted messages leave the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailbox_store.blobs import KeyRing
from mss.db import make_engine
from mss.outbound import (
    Done,
    Lease,
    MemoryOutboundQueue,
    NewMessage,
    NewRecipient,
    OutboundQueue,
    Retry,
    SqlOutboundQueue,
)
from mss.outbound.tables import messages, metadata

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
BODY = b"From: a@ours.test\r\nSubject: x\r\n\r\nPatient DUPONT Jean: compte rendu.\r\n"
KEYS = KeyRing({"k1": secrets.token_bytes(32)}, active_key="k1")


def new_message(
    queue_id: str, *addresses: str, created: datetime = T0, sender: str = "dr.a@ours.test"
) -> NewMessage:
    return NewMessage(
        queue_id=queue_id,
        sender=sender,
        recipients=tuple(
            NewRecipient(a, frozenset({"SUCCESS", "FAILURE"}), ("rfc822", a)) for a in addresses
        ),
        body=BODY,
        created_at=created,
        expires_at=created + timedelta(days=5),
        envid="ENV-1",
        ret="HDRS",
    )


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    found: AsyncEngine = request.getfixturevalue(
        "sqlite_engine" if backend == "sqlite" else "pg_engine"
    )
    return found


@pytest.fixture
async def queue(engine: AsyncEngine | None) -> AsyncIterator[OutboundQueue]:
    if engine is None:
        yield MemoryOutboundQueue()
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlOutboundQueue(engine, KEYS)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


async def test_enqueued_message_is_listed_with_its_envelope(queue: OutboundQueue) -> None:
    await queue.enqueue(new_message("Q1", "x@peer.test", "y@other.test"))
    [listed] = await queue.list_messages()
    assert listed.queue_id == "Q1"
    assert (listed.envid, listed.ret, listed.size) == ("ENV-1", "HDRS", len(BODY))
    assert [r.address for r in listed.recipients] == ["x@peer.test", "y@other.test"]
    first = listed.recipients[0]
    assert first.notify == frozenset({"SUCCESS", "FAILURE"})  # MSS-MSG-2: kept for the peer
    assert first.orcpt == ("rfc822", "x@peer.test")
    assert first.domain == "peer.test"
    assert await queue.body("Q1") == BODY
    assert await queue.get("nope") is None


async def test_default_notify_is_kept_apart_from_never(queue: OutboundQueue) -> None:
    message = new_message("Q1", "x@peer.test")
    plain = dataclasses.replace(message, recipients=(NewRecipient("x@peer.test"),))
    await queue.enqueue(plain)
    [listed] = await queue.list_messages()
    assert listed.recipients[0].notify is None
    assert listed.recipients[0].orcpt is None


async def test_claim_groups_due_recipients_by_message_and_domain(queue: OutboundQueue) -> None:
    await queue.enqueue(new_message("Q1", "a@peer.test", "b@peer.test", "c@other.test"))
    await queue.enqueue(new_message("Q2", "d@peer.test", created=T0 + timedelta(hours=1)))
    batches = await queue.claim(T0, limit=10, lease=LEASE)
    assert sorted((b.message.queue_id, b.domain, len(b.recipients)) for b in batches) == [
        ("Q1", "other.test", 1),
        ("Q1", "peer.test", 2),
    ]  # Q2 is not due yet
    assert all(b.body == BODY for b in batches)
    assert await queue.claim(T0, limit=10, lease=LEASE) == []  # held under the lease


async def test_claim_respects_the_limit(queue: OutboundQueue) -> None:
    for n in range(5):
        await queue.enqueue(new_message(f"Q{n}", f"r{n}@peer.test"))
    first = await queue.claim(T0, limit=3, lease=LEASE)
    second = await queue.claim(T0, limit=3, lease=LEASE)
    assert sum(len(b.recipients) for b in first) == 3
    assert sum(len(b.recipients) for b in second) == 2


async def test_two_concurrent_claimers_never_share_a_recipient(queue: OutboundQueue) -> None:
    for n in range(40):
        await queue.enqueue(new_message(f"Q{n:02}", f"r{n}@peer.test", f"s{n}@peer.test"))

    async def claimer() -> list[int]:
        taken: list[int] = []
        while batches := await queue.claim(T0, limit=7, lease=LEASE):
            taken += [r.id for b in batches for r in b.recipients]
        return taken

    first, second = await asyncio.gather(claimer(), claimer())
    assert not set(first) & set(second)
    assert len(first) + len(second) == 80


async def test_delivered_recipients_leave_and_the_message_with_the_last(
    queue: OutboundQueue,
) -> None:
    await queue.enqueue(new_message("Q1", "a@peer.test", "b@peer.test"))
    [batch] = await queue.claim(T0, limit=10, lease=LEASE)
    a, b = batch.recipients
    assert await queue.settle([Done(a.id, batch.lease)]) == 1
    assert [r.address for r in (await queue.list_messages())[0].recipients] == ["b@peer.test"]
    assert await queue.settle([Done(b.id, batch.lease)]) == 1
    assert await queue.list_messages() == []
    assert await queue.body("Q1") is None
    assert await queue.next_due() is None


async def test_retry_reschedules_and_records_the_reply(queue: OutboundQueue) -> None:
    await queue.enqueue(new_message("Q1", "a@peer.test"))
    [batch] = await queue.claim(T0, limit=10, lease=LEASE)
    later = T0 + timedelta(minutes=5)
    reply = "451 4.3.0 try again later"
    retry = Retry(batch.recipients[0].id, batch.lease, later, 451, reply, delay_notified=True)
    assert await queue.settle([retry]) == 1
    [rcpt] = (await queue.list_messages())[0].recipients
    assert (rcpt.attempts, rcpt.last_code, rcpt.last_reply) == (1, 451, reply)
    assert rcpt.delay_notified
    assert rcpt.next_attempt == later
    assert await queue.next_due() == later
    assert await queue.claim(later - timedelta(seconds=1), limit=10, lease=LEASE) == []
    [again] = await queue.claim(later, limit=10, lease=LEASE)
    assert again.recipients[0].attempts == 1


async def test_an_expired_lease_lets_another_worker_take_over(queue: OutboundQueue) -> None:
    """A worker killed mid-delivery: its recipients come due again (at least once, never lost)."""
    await queue.enqueue(new_message("Q1", "a@peer.test"))
    [dead] = await queue.claim(T0, limit=10, lease=LEASE)
    [alive] = await queue.claim(T0 + LEASE, limit=10, lease=LEASE)
    assert alive.lease != dead.lease
    rid = alive.recipients[0].id
    assert await queue.settle([Done(rid, dead.lease)]) == 0  # the stale worker changes nothing
    assert len(await queue.list_messages()) == 1
    assert await queue.settle([Done(rid, alive.lease)]) == 1
    assert await queue.list_messages() == []


async def test_retry_now_and_delete(queue: OutboundQueue) -> None:
    await queue.enqueue(new_message("Q1", "a@peer.test"))
    await queue.enqueue(new_message("Q2", "b@peer.test"))
    [batch] = await queue.claim(T0, limit=1, lease=LEASE)
    assert batch.message.queue_id == "Q1"
    assert await queue.retry_now("Q1", T0)  # an administrator's "retry": due now, lease gone
    claimed = await queue.claim(T0, limit=10, lease=LEASE)
    assert sorted(b.message.queue_id for b in claimed) == ["Q1", "Q2"]
    assert await queue.delete("Q1")
    assert not await queue.delete("Q1")
    assert not await queue.retry_now("Q1", T0)
    assert [m.queue_id for m in await queue.list_messages()] == ["Q2"]


async def test_empty_recipient_list_is_refused(queue: OutboundQueue) -> None:
    with pytest.raises(ValueError, match="recipient"):
        await queue.enqueue(NewMessage("Q1", "", (), BODY, T0, T0))


# --- what only the SQL queue has --------------------------------------------------------------


@pytest.fixture
def sql_queue(engine: AsyncEngine | None, queue: OutboundQueue) -> SqlOutboundQueue:
    if engine is None or not isinstance(queue, SqlOutboundQueue):
        pytest.skip("the memory queue has no table")
    return queue


async def test_queued_body_is_sealed_at_rest(
    sql_queue: SqlOutboundQueue, engine: AsyncEngine
) -> None:
    await sql_queue.enqueue(new_message("Q1", "a@peer.test"))
    async with engine.connect() as conn:
        stored = (await conn.execute(select(messages.c.body))).scalar_one()
    assert b"DUPONT" not in stored
    assert stored.startswith(b"MSB")


async def test_enqueue_is_durable_for_a_new_engine(
    sql_queue: SqlOutboundQueue, engine: AsyncEngine
) -> None:
    await sql_queue.enqueue(new_message("Q1", "a@peer.test"))
    other = make_engine(engine.url.render_as_string(hide_password=False), fsync=False)
    try:
        [listed] = await SqlOutboundQueue(other, KEYS).list_messages()
    finally:
        await other.dispose()
    assert listed.queue_id == "Q1"


async def test_two_engines_claim_exclusively(
    sql_queue: SqlOutboundQueue, engine: AsyncEngine
) -> None:
    """Two nodes (two engines, two pools) draining one queue never share a recipient."""
    for n in range(30):
        await sql_queue.enqueue(new_message(f"Q{n:02}", f"r{n}@peer.test"))
    other = make_engine(engine.url.render_as_string(hide_password=False), fsync=False)
    try:
        queues = [sql_queue, SqlOutboundQueue(other, KEYS)]

        async def claimer(q: SqlOutboundQueue) -> list[int]:
            taken: list[int] = []
            while batches := await q.claim(T0, limit=4, lease=LEASE):
                taken += [r.id for b in batches for r in b.recipients]
            return taken

        first, second = await asyncio.gather(*(claimer(q) for q in queues))
    finally:
        await other.dispose()
    assert not set(first) & set(second)
    assert len(first) + len(second) == 30


async def test_enqueue_returns_the_stored_recipients(queue: OutboundQueue) -> None:
    stored = await queue.enqueue(new_message("Q1", "a@peer.test", "b@other.test"))
    assert [r.address for r in stored] == ["a@peer.test", "b@other.test"]
    listed = (await queue.list_messages())[0].recipients
    assert [r.id for r in stored] == [r.id for r in listed]


async def test_a_message_enqueued_under_a_lease_is_held_by_it(queue: OutboundQueue) -> None:
    """The hand-off: stored already held by this node's worker, nobody claims it meanwhile;
    if that worker dies, it comes due when the lease ends (never lost)."""
    lease = Lease("hand-off-token", T0 + LEASE)
    message = dataclasses.replace(new_message("Q1", "a@peer.test"), lease=lease)
    [rcpt] = await queue.enqueue(message)
    assert await queue.claim(T0, limit=10, lease=LEASE) == []
    assert await queue.next_due() == T0 + LEASE
    [taken_over] = await queue.claim(T0 + LEASE, limit=10, lease=LEASE)
    assert taken_over.recipients[0].id == rcpt.id
    assert await queue.settle([Done(rcpt.id, "hand-off-token")]) == 0  # too late


async def test_the_lease_holder_settles_a_handed_off_message(queue: OutboundQueue) -> None:
    lease = Lease("hand-off-token", T0 + LEASE)
    [rcpt] = await queue.enqueue(dataclasses.replace(new_message("Q1", "a@p.test"), lease=lease))
    assert await queue.settle([Done(rcpt.id, lease.token)]) == 1
    assert await queue.list_messages() == []


async def test_a_taken_queue_id_is_refused_and_nothing_changes(queue: OutboundQueue) -> None:
    await queue.enqueue(new_message("Q1", "a@peer.test"))
    with pytest.raises(Exception):  # noqa: B017, PT011 (the backends raise their own errors)
        await queue.enqueue(new_message("Q1", "b@peer.test"))
    [listed] = await queue.list_messages()
    assert [r.address for r in listed.recipients] == ["a@peer.test"]


async def test_concurrent_enqueues_share_commits_and_one_failure_fails_alone(
    queue: OutboundQueue,
) -> None:
    """Group commit: many writers at once all get durable results; a duplicate fails alone."""
    await queue.enqueue(new_message("DUP", "x@peer.test"))
    jobs = [queue.enqueue(new_message(f"Q{n:03}", f"r{n}@peer.test")) for n in range(50)]
    jobs.append(queue.enqueue(new_message("DUP", "y@peer.test")))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert all(not isinstance(r, BaseException) for r in results[:-1])
    assert isinstance(results[-1], Exception)
    assert len(await queue.list_messages()) == 51
