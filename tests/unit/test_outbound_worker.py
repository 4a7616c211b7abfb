"""The outbound workers with a scripted relay and a fake clock (issue 4, MSS-MSG-2, MSS-TRUST-4).

Messages are queued through the real delivery service (memory directory, store and queue); the
relay answers what each test scripts; reports land in the local sender's mailbox as RFC 3464
messages, which the tests parse.
"""

from __future__ import annotations

import asyncio
import email
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message

import pytest

from config.settings import OutboundSettings
from directory.memory import MemoryDirectory
from directory.models import BalKind, Domain, DomainKind, Mailbox
from mailbox_store.memory import MemoryMailboxStore
from mss.audit import AuditEvent, MemoryAuditLog
from mss.delivery import DeliveryService
from mss.delivery.envelope import Envelope, Origin, Recipient
from mss.delivery.outbound import Enqueuer
from mss.delivery.service import DeliverySettings
from mss.outbound import Batch, MemoryOutboundQueue
from mss.outbound.relay import OutboundMessage, RecipientResult, RelayResult
from mss.outbound.schedule import RetryPolicy
from mss.policy import Channel, SessionFacts
from mss.policy.facts import Limits
from mss.relay.worker import QueueWorker, WorkerSettings

DR = "dr.martin@hopital.test"
PEER = "dr.bernard@operateur-pair.test"
PEER2 = "secretariat@operateur-pair.test"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
MESSAGE = (
    b"From: <dr.martin@hopital.test>\r\nTo: <dr.bernard@operateur-pair.test>\r\n"
    b"Subject: compte rendu\r\nMessage-ID: <m1@hopital.test>\r\n\r\nBonjour.\r\n"
)
OUTBOUND = OutboundSettings(
    retry_schedule=[60.0, 300.0], expiry=3600.0, delay_warning=600.0, poll_interval=0.05
)

Answer = Callable[[str], tuple[int, str, str]]


def ok(_: str) -> tuple[int, str, str]:
    return 250, "2.0.0", "Ok: queued as PEER1"


@dataclass
class ScriptedRelay:
    """Answers per recipient with ``answer``; records what it was given."""

    answer: Answer = ok
    peer_dsn: bool = True
    sent: list[tuple[str, OutboundMessage]] = field(default_factory=list)

    async def send(self, domain: str, message: OutboundMessage) -> RelayResult:
        self.sent.append((domain, message))
        results = tuple(
            RecipientResult(r.address, *self.answer(r.address), remote_host="mx.peer.test")
            for r in message.recipients
        )
        return RelayResult(results, peer_dsn=self.peer_dsn)

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    clock: Clock
    queue: MemoryOutboundQueue
    store: MemoryMailboxStore
    delivery: DeliveryService
    relay: ScriptedRelay
    worker: QueueWorker
    audit: MemoryAuditLog

    async def submit(self, *recipients: Recipient, sender: str = DR, **envelope: str) -> str:
        origin = Origin(SessionFacts(Channel.SUBMISSION, tls=True, user=DR), helo="client")
        report = await self.delivery.deliver(
            origin, Envelope(sender, recipients, **envelope), MESSAGE
        )
        assert len(report.queued) == len(recipients)
        return report.queue_id

    async def run_at(self, seconds: float) -> None:
        self.clock.now = T0 + timedelta(seconds=seconds)
        await self.worker.run_until_idle()

    async def reports(self) -> list[Message]:
        folder = await self.store.get_folder(DR, "INBOX")
        assert folder is not None
        records = await self.store.list_messages(folder.id)
        bodies = [await self.store.get_body(folder.id, r.uid) for r in records]
        return [email.message_from_bytes(b) for b in bodies]


@pytest.fixture
async def world() -> World:
    clock = Clock()
    directory = MemoryDirectory()
    await directory.add_domain(Domain("hopital.test", DomainKind.PROFESSIONAL))
    await directory.add_mailbox(Mailbox(DR, BalKind.PER, created_at=T0))
    store = MemoryMailboxStore()
    await store.create_account(DR)
    queue = MemoryOutboundQueue()
    policy = RetryPolicy.from_settings(OUTBOUND)
    audit = MemoryAuditLog()
    delivery = DeliveryService(
        directory=directory,
        store=store,
        audit=audit,
        settings=DeliverySettings("mss.hopital.test", Limits(100, 25 * 1024 * 1024)),
        clock=clock,
        outbound=Enqueuer(queue, policy, clock),
    )
    relay = ScriptedRelay()
    worker = QueueWorker(
        queue=queue,
        relay=relay,
        reporter=delivery,
        policy=policy,
        settings=WorkerSettings.from_settings(OUTBOUND),
        audit=audit,
        clock=clock,
    )
    return World(clock, queue, store, delivery, relay, worker, audit)


def status_fields(report: Message) -> list[Message]:
    """The per-recipient groups of the message/delivery-status part (RFC 3464 §2.3)."""
    part = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    payload = part.get_payload()
    assert isinstance(payload, list)
    return [group for group in payload[1:] if isinstance(group, Message)]


async def test_remote_recipients_are_relayed_with_their_dsn_parameters(world: World) -> None:
    """MSS-MSG-2: NOTIFY, ORCPT, RET and ENVID go on to the peer; the body carries our
    Received: line and no Return-Path: (RFC 5321 §4.4)."""
    queue_id = await world.submit(
        Recipient(PEER, frozenset({"SUCCESS", "FAILURE"}), ("rfc822", PEER)),
        Recipient(PEER2),
        ret="HDRS",
        envid="ENV42",
    )
    await world.run_at(0)
    [(domain, sent)] = world.relay.sent
    assert domain == "operateur-pair.test"
    assert sent.queue_id == queue_id
    assert (sent.sender, sent.envid, sent.ret) == (DR, "ENV42", "HDRS")
    first, second = sent.recipients
    assert first.notify == frozenset({"SUCCESS", "FAILURE"})
    assert first.orcpt == f"rfc822;{PEER}"
    assert second.notify is None
    assert sent.body.startswith(b"Received: ")
    assert b"Return-Path:" not in sent.body
    assert sent.body.endswith(MESSAGE)
    assert await world.queue.list_messages() == []  # delivered: gone from the queue
    assert await world.reports() == []  # the peer speaks DSN: it reports success itself
    delivered = [r for r in world.audit.records if r.event is AuditEvent.MESSAGE_DELIVERED]
    assert {r.mailbox for r in delivered} == {PEER, PEER2}


async def test_peer_without_dsn_gives_a_relayed_report(world: World) -> None:
    """MSS-MSG-2: NOTIFY=SUCCESS to a peer without the DSN extension: ``relayed``."""
    world.relay.peer_dsn = False
    await world.submit(Recipient(PEER, frozenset({"SUCCESS"})), Recipient(PEER2))
    await world.run_at(0)
    [report] = await world.reports()
    [group] = status_fields(report)
    assert group["Action"] == "relayed"
    assert group["Final-Recipient"] == f"rfc822; {PEER}"  # not PEER2: no SUCCESS asked
    assert group["Remote-MTA"] == "dns; mx.peer.test"


async def test_4xx_is_retried_on_the_schedule(world: World) -> None:
    """A peer answering 4xx: tried again after 60 s, then every 300 s (the last value)."""
    world.relay.answer = lambda _: (451, "4.3.2", "System not accepting network messages")
    await world.submit(Recipient(PEER))
    attempts: list[float] = []
    for second in range(0, 800, 10):
        before = len(world.relay.sent)
        await world.run_at(second)
        if len(world.relay.sent) > before:
            attempts.append(second)
    assert attempts == [0, 60, 360, 660]
    [queued] = await world.queue.list_messages()
    [rcpt] = queued.recipients
    assert rcpt.attempts == 4
    assert rcpt.last_reply == "451 4.3.2 System not accepting network messages"
    failures = [r for r in world.audit.records if r.event is AuditEvent.DELIVERY_FAILED]
    assert [r.details["attempt"] for r in failures] == [1, 2, 3, 4]
    assert {r.details["temporary"] for r in failures} == {"yes"}


async def test_4xx_then_success_leaves_the_queue(world: World) -> None:
    answers = iter([(421, "4.4.2", "busy"), (250, "2.0.0", "ok")])
    world.relay.answer = lambda _: next(answers)
    await world.submit(Recipient(PEER))
    await world.run_at(0)
    assert len(await world.queue.list_messages()) == 1
    await world.run_at(60)
    assert await world.queue.list_messages() == []
    assert len(world.relay.sent) == 2


async def test_down_peer_gives_delayed_then_failed_report_at_expiry(world: World) -> None:
    """Issue 4: a peer that is down is retried, then a ``delayed`` DSN (after delay_warning,
    600 s here), then a ``failed`` DSN once the expiry (3600 s) has passed."""
    world.relay.answer = lambda _: (421, "4.4.1", "connection refused by 127.0.0.1:2525")
    await world.submit(Recipient(PEER, orcpt=("rfc822", PEER)), envid="ENV7")
    for second in range(0, 3700, 20):
        await world.run_at(second)
    delayed, failed = await world.reports()
    [delay_group] = status_fields(delayed)
    assert delay_group["Action"] == "delayed"
    assert delay_group["Status"] == "4.4.1"
    assert "Will-Retry-Until" in delay_group
    assert "Delayed" in str(delayed["Subject"])
    [fail_group] = status_fields(failed)
    assert fail_group["Action"] == "failed"
    assert fail_group["Status"] == "5.4.7"  # RFC 3463: delivery time expired
    assert "connection refused" in str(fail_group["Diagnostic-Code"])
    assert fail_group["Original-Recipient"] == f"rfc822; {PEER}"
    assert await world.queue.list_messages() == []
    # 0, 60, then every 300 s up to 3360, and a last attempt at the expiry itself (3600)
    assert len(world.relay.sent) == 14
    assert "Sun, 22 Nov 2026 09:00:00" in str(fail_group["Last-Attempt-Date"])


async def test_5xx_gives_an_immediate_failed_report_with_the_peer_reply(world: World) -> None:
    world.relay.answer = lambda a: (
        (550, "5.1.1", "<dr.bernard@operateur-pair.test>: Recipient address rejected")
        if a == PEER
        else ok(a)
    )
    await world.submit(Recipient(PEER), Recipient(PEER2))
    await world.run_at(0)
    [report] = await world.reports()
    assert "Undelivered" in str(report["Subject"])
    [group] = status_fields(report)
    assert (group["Action"], group["Status"]) == ("failed", "5.1.1")
    assert " ".join(str(group["Diagnostic-Code"]).split()) == (
        "smtp; 550 5.1.1 <dr.bernard@operateur-pair.test>: Recipient address rejected"
    )
    text = report.as_string()
    human = next(p for p in report.walk() if p.get_content_type() == "text/plain")
    text_part = human.get_payload(decode=True)
    assert isinstance(text_part, bytes)
    assert "Réponse du serveur distant" in text_part.decode()
    assert "Subject: compte rendu" in text  # RET default: the original headers come back
    assert await world.queue.list_messages() == []


async def test_notify_never_and_null_sender_get_no_report(world: World) -> None:
    """MSS-MSG-2: NOTIFY=NEVER is obeyed; a null-sender message (a DSN) never gets a report."""
    world.relay.answer = lambda _: (550, "5.7.1", "refused")
    await world.submit(Recipient(PEER, frozenset({"NEVER"})))
    await world.submit(Recipient(PEER), sender="")
    await world.run_at(0)
    assert await world.reports() == []
    assert await world.queue.list_messages() == []


async def test_remote_sender_report_goes_back_through_the_queue(world: World) -> None:
    """A failure report for a remote sender is queued to its operator with the null sender."""
    world.relay.answer = lambda a: (550, "5.1.1", "unknown") if a == PEER2 else ok(a)
    await world.submit(Recipient(PEER2), sender=PEER)
    await world.run_at(0)
    domain, dsn = world.relay.sent[-1]
    assert (domain, dsn.sender, [r.address for r in dsn.recipients]) == (
        "operateur-pair.test",
        "",
        [PEER],
    )
    assert b"report-type=delivery-status" in dsn.body
    assert await world.queue.list_messages() == []


async def test_relay_raising_is_a_temporary_failure(world: World) -> None:
    """The seam promises no exception; if one comes anyway, the message is kept."""

    def explode(_: str) -> tuple[int, str, str]:
        raise RuntimeError("bug")

    world.relay.answer = explode
    await world.submit(Recipient(PEER))
    await world.run_at(0)
    [queued] = await world.queue.list_messages()
    assert queued.recipients[0].last_code == 451


async def test_worker_loop_wakes_up_on_enqueue(world: World) -> None:
    """The running loop delivers a new message at once (no wait for the poll interval)."""
    world.clock.now = T0
    task = asyncio.create_task(world.worker.run())
    try:
        await asyncio.sleep(0.01)
        await world.submit(Recipient(PEER))
        for _ in range(100):
            if world.relay.sent:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(world.relay.sent) == 1


async def test_a_fresh_message_is_handed_to_the_worker_without_a_claim(world: World) -> None:
    """The enqueuer stores it held under the worker's lease and the worker sends it at once."""
    enqueuer = world.delivery.outbound
    assert enqueuer is not None
    enqueuer.handoff = world.worker
    claims = 0
    claim = world.queue.claim

    async def counting_claim(*args: object, **kwargs: object) -> list[Batch]:
        nonlocal claims
        claims += 1
        return await claim(*args, **kwargs)  # type: ignore[arg-type]

    world.queue.claim = counting_claim  # type: ignore[method-assign]
    await world.submit(Recipient(PEER))
    for _ in range(100):
        if not world.worker.inflight:
            break
        await asyncio.sleep(0.01)
    assert len(world.relay.sent) == 1
    assert claims == 0
    assert await world.queue.list_messages() == []


async def test_the_dkim_signer_is_applied_at_enqueue(world: World) -> None:
    """H6's signer: ``sign(message, sender_domain)``; our Received: line stays on top."""
    enqueuer = world.delivery.outbound
    assert enqueuer is not None
    seen: list[str] = []

    def sign(message: bytes, domain: str) -> bytes:
        seen.append(domain)
        return b"DKIM-Signature: v=1; d=" + domain.encode() + b"\r\n" + message

    enqueuer._signer = sign
    await world.submit(Recipient(PEER))
    await world.submit(Recipient(PEER), sender="")  # our own reports are not signed here
    await world.run_at(0)
    assert seen == ["hopital.test"]
    body = world.relay.sent[0][1].body
    assert body.startswith(b"Received: ")
    assert b"\r\nDKIM-Signature: v=1; d=hopital.test\r\nFrom: " in body
