"""The notification job against a real smarthost (STARTTLS required), on SQLite and PostgreSQL:
MSS-PAT-7 coalescing and sending, DMP-AUD-1 rows of the DMP outbox, retries when the smarthost
is down (nothing lost, across a restart), expiry, skipped and refused rows, exclusive claims."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import DirectorySettings, NotifySettings, Settings, SmtpSettings
from directory.ins import make_ins, patient_address
from directory.models import BalKind, IdentifierKind, Mailbox, Patient, ProfileState
from directory.sql import SqlDirectory
from dmp_bridge.store.access_models import (
    AccessMode,
    Action,
    ActorKind,
    NewNotification,
    NewTrace,
    NotificationKind,
    Reason,
    RecipientKind,
)
from dmp_bridge.store.sql import SqlDmpStore
from mss.db import make_engine
from mss.notify.build import Notifications, build_notifications
from mss.notify.job import Internal
from mss.notify.outbox import State
from mss.notify.tables import dmp_attempts
from mss.notify.transport import SmarthostTransport, Transport
from mss.schema import METADATA, upgrade
from tests.protocol.notify_smarthost import (
    SmarthostPki,
    recipient,
    smarthost,
    smarthost_pki,
    text_of,
)
from tests.protocol.relay_sink import SmtpSink

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
INS = make_ins("2790399123456")
ADDRESS = patient_address(INS, "patient.mssante.fr")
EMAIL = "jeanne.dupont@example.org"
SILENT_INS = make_ins("1800175123456")  # no personal address
RPPS = "10001234567"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sealer:
    def __init__(self) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=128))

    def seal(self, blob_id: str, data: bytes) -> bytes:
        return self._aead.encrypt(b"\0" * 12, data, blob_id.encode())

    def open(self, blob_id: str, sealed: bytes) -> bytes:
        return self._aead.decrypt(b"\0" * 12, sealed, blob_id.encode())


@dataclass
class World:
    engine: AsyncEngine
    directory: SqlDirectory
    dmp: SqlDmpStore
    certs: SmarthostPki
    clock: Clock

    def settings(self, port: int) -> Settings:
        notify = NotifySettings(
            smarthost=f"127.0.0.1:{port}",
            ca_file=self.certs.ca,
            coalesce_window=900.0,
            retry_schedule=[60.0],
            expiry=3600.0,
            timeout=5.0,
        )
        return Settings(notify=notify, smtp=SmtpSettings(hostname="mss.test"))

    def notifications(
        self, port: int, engine: AsyncEngine | None = None, internal: Internal | None = None
    ) -> Notifications:
        settings = self.settings(port)
        engine = engine or self.engine
        transport: Transport = SmarthostTransport(settings.notify)
        return build_notifications(
            settings,
            engine=engine,
            directory=SqlDirectory(engine, DirectorySettings()),
            dmp=SqlDmpStore(engine, Sealer()),
            transport=transport,
            internal=internal,
            clock=self.clock,
        )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> SmarthostPki:
    return smarthost_pki(tmp_path_factory.mktemp("smarthost-pki"))


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for metadata in METADATA:
            await conn.run_sync(metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
async def world(sql_engine: AsyncEngine, certs: SmarthostPki) -> AsyncIterator[World]:
    await _reset(sql_engine)
    await upgrade(sql_engine)
    directory = SqlDirectory(sql_engine, DirectorySettings())
    now = T0 - timedelta(days=60)
    for ins, mail in ((INS, EMAIL), (SILENT_INS, None)):
        address = patient_address(ins, "patient.mssante.fr")
        await directory.add_patient(
            Patient(ins, address, ProfileState.ACTIVE, notification_email=mail, notified_at=now)
        )
    await directory.add_mailbox(
        Mailbox(
            "dr.martin@hopital.mssante.fr",
            BalKind.PER,
            display_name="Dr Alice Martin",
            identifier=RPPS,
            identifier_kind=IdentifierKind.RPPS,
        )
    )
    yield World(sql_engine, directory, SqlDmpStore(sql_engine, Sealer()), certs, Clock())
    await _reset(sql_engine)


@pytest.fixture
async def sink(certs: SmarthostPki) -> AsyncIterator[tuple[SmtpSink, int]]:
    server = smarthost(certs)
    port = await server.start()
    yield server, port
    await server.stop()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _queue_dmp(world: World, kind: NotificationKind, **extra: Any) -> int:
    """A professional's access recorded with one notification (the DMP outbox's row id)."""
    trace = NewTrace(
        INS,
        world.clock(),
        ActorKind.PROFESSIONAL,
        "8" + RPPS,
        Action.READ,
        AccessMode.NORMAL,
        True,
        Reason.GRANTED,
    )
    notification = NewNotification(
        ins=INS,
        kind=kind,
        recipient_kind=extra.get("recipient_kind", RecipientKind.PATIENT),
        recipient=extra.get("recipient", INS),
        created_at=world.clock(),
        due_at=world.clock(),
        actor_id="8" + RPPS,
    )
    await world.dmp.record_access(trace, [notification])
    rows = await world.dmp.notifications(INS)
    return rows[-1].id


async def _dmp_state(engine: AsyncEngine, notification_id: int) -> tuple[str, int]:
    query = select(dmp_attempts.c.state, dmp_attempts.c.attempts).where(
        dmp_attempts.c.notification_id == notification_id
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()
    return str(row.state), int(row.attempts)


async def test_mss_pat_7_coalesced_one_email_per_window_over_starttls(
    world: World, sink: tuple[SmtpSink, int]
) -> None:
    server, port = sink
    notifications = world.notifications(port)
    assert notifications.job is not None
    await notifications.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    await notifications.outbox.add(INS, ADDRESS, "Secretariat de cardiologie", world.clock())
    await notifications.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    rows = await notifications.outbox.rows(INS)
    assert [(r["messages"], r["pending_key"]) for r in rows] == [(3, INS)]

    assert await notifications.job.run_once() == 1
    [sent] = server.delivered
    assert recipient(sent) == EMAIL
    assert "<ne-pas-repondre@mss.test>" in sent.mail
    assert server.handshakes == 1
    assert server.commands.index("STARTTLS") < server.commands.index(sent.mail)
    shown = text_of(sent)
    assert "3 nouveaux messages" in shown
    assert "Dr Alice Martin et Secretariat de cardiologie" in shown
    [row] = await notifications.outbox.rows(INS)
    assert (row["state"], row["pending_key"], row["attempts"]) == (State.SENT, None, 1)

    # a message within the window waits for its end: at most one e-mail per window
    world.clock.advance(60)
    await notifications.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    assert await notifications.job.run_once() == 0
    world.clock.advance(900 - 60)
    assert await notifications.job.run_once() == 1
    assert len(server.delivered) == 2


async def test_dmp_aud_1_rows_are_sent_and_marked(world: World, sink: tuple[SmtpSink, int]) -> None:
    server, port = sink
    notifications = world.notifications(port)
    assert notifications.job is not None
    first = await _queue_dmp(world, NotificationKind.FIRST_ACCESS)
    treating = await _queue_dmp(
        world,
        NotificationKind.EMERGENCY_ACCESS,
        recipient_kind=RecipientKind.MEDECIN_TRAITANT,
        recipient=RPPS,
    )
    assert await notifications.job.run_once() == 2
    [sent] = server.delivered
    assert recipient(sent) == EMAIL
    shown = text_of(sent)
    assert "pour la première fois par Dr Alice Martin" in shown  # RPPS with its "8" prefix
    assert "dr.martin@" not in shown  # MSS-PAT-5
    assert await _dmp_state(world.engine, first) == (State.SENT, 1)
    assert await _dmp_state(world.engine, treating) == (State.SKIPPED, 1)  # no internal path
    assert all(row.sent_at is not None for row in await world.dmp.notifications(INS))
    assert await world.dmp.due_notifications(world.clock()) == []
    assert await notifications.job.run_once() == 0  # nothing sent twice


async def test_dmp_acl_3_emergency_access_tells_the_medecin_traitant_in_their_bal(
    world: World, sink: tuple[SmtpSink, int]
) -> None:
    server, port = sink
    delivered: list[tuple[str, bytes]] = []

    async def internal(address: str, message: bytes) -> bool:
        delivered.append((address, message))
        return True

    notifications = world.notifications(port, internal=internal)
    assert notifications.job is not None
    known = await _queue_dmp(
        world,
        NotificationKind.EMERGENCY_ACCESS,
        recipient_kind=RecipientKind.MEDECIN_TRAITANT,
        recipient=RPPS,
    )
    unknown = await _queue_dmp(
        world,
        NotificationKind.EMERGENCY_ACCESS,
        recipient_kind=RecipientKind.MEDECIN_TRAITANT,
        recipient="10009999999",
    )
    assert await notifications.job.run_once() == 2
    [(address, message)] = delivered
    assert address == "dr.martin@hopital.mssante.fr"
    assert INS in message.decode()
    assert server.delivered == []  # never through the smarthost
    assert await _dmp_state(world.engine, known) == (State.SENT, 1)
    assert await _dmp_state(world.engine, unknown) == (State.SKIPPED, 1)


async def test_smarthost_down_is_retried_and_nothing_is_lost_across_a_restart(
    world: World, sink: tuple[SmtpSink, int]
) -> None:
    server, port = sink
    down = world.notifications(_closed_port())
    assert down.job is not None
    await down.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    dmp_row = await _queue_dmp(world, NotificationKind.NEW_DOCUMENT)
    assert await down.job.run_once() == 2
    [row] = await down.outbox.rows(INS)
    assert (row["state"], row["attempts"]) == (State.PENDING, 1)
    assert row["error"]
    assert await _dmp_state(world.engine, dmp_row) == (State.PENDING, 1)
    assert await down.job.run_once() == 0  # not before the retry delay

    # "restart": a new engine and a new job on the same database, the smarthost back up
    url = world.engine.url.render_as_string(hide_password=False)
    engine = make_engine(url, fsync=False)
    try:
        world.clock.advance(60)
        back = world.notifications(port, engine)
        assert back.job is not None
        assert await back.job.run_once() == 2
    finally:
        await engine.dispose()
    assert sorted(recipient(t) for t in server.delivered) == [EMAIL, EMAIL]
    [row] = await down.outbox.rows(INS)
    assert (row["state"], row["attempts"]) == (State.SENT, 2)
    assert await _dmp_state(world.engine, dmp_row) == (State.SENT, 2)
    assert any("Nouveau document" in text_of(t) for t in server.delivered)


async def test_expired_rows_are_given_up_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    down = world.notifications(_closed_port())
    assert down.job is not None
    await down.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    dmp_row = await _queue_dmp(world, NotificationKind.NEW_DOCUMENT)
    assert await down.job.run_once() == 2
    world.clock.advance(3600)
    with caplog.at_level(logging.WARNING, logger="mss.notify.job"):
        assert await down.job.run_once() == 2
    assert caplog.text.count("notification expired") == 2
    assert EMAIL not in caplog.text
    assert INS not in caplog.text
    [row] = await down.outbox.rows(INS)
    assert row["state"] == State.EXPIRED
    assert await _dmp_state(world.engine, dmp_row) == (State.EXPIRED, 2)
    assert await world.dmp.due_notifications(world.clock()) == []


async def test_mss_pat_7_patient_without_personal_address_is_skipped(
    world: World, sink: tuple[SmtpSink, int]
) -> None:
    server, port = sink
    notifications = world.notifications(port)
    assert notifications.job is not None
    silent = patient_address(SILENT_INS, "patient.mssante.fr")
    await notifications.outbox.add(SILENT_INS, silent, "Dr Alice Martin", world.clock())
    assert await notifications.job.run_once() == 1
    [row] = await notifications.outbox.rows(SILENT_INS)
    assert row["state"] == State.SKIPPED
    assert server.connections == 0


async def test_a_refusal_for_good_is_not_retried(world: World, certs: SmarthostPki) -> None:
    server = smarthost(certs)
    server._rcpt_reply = lambda _address: "550 5.1.1 no such user"
    port = await server.start()
    try:
        notifications = world.notifications(port)
        assert notifications.job is not None
        await notifications.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
        assert await notifications.job.run_once() == 1
        world.clock.advance(3600)
        assert await notifications.job.run_once() == 0
    finally:
        await server.stop()
    [row] = await notifications.outbox.rows(INS)
    assert (row["state"], row["attempts"]) == (State.REFUSED, 1)
    assert row["error"].startswith("550")


async def test_claims_are_exclusive_until_the_lease_ends(world: World) -> None:
    """Two nodes never send one row at once; a crashed node's row comes due after the lease."""
    notifications = world.notifications(_closed_port())
    outbox = notifications.outbox
    await outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    lease = timedelta(seconds=100)
    assert len(await outbox.claim_due(world.clock(), lease)) == 1
    assert await outbox.claim_due(world.clock(), lease) == []
    # the claimed row no longer gathers: a new message opens a row of its own
    await outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
    assert len(await outbox.rows(INS)) == 2
    world.clock.advance(100)
    again = await outbox.claim_due(world.clock(), lease)
    assert [n.attempts for n in again] == [2]  # the crashed node's row; the new one waits


async def test_no_starttls_no_notification(world: World) -> None:
    """A smarthost that does not offer STARTTLS gets nothing (require_starttls, the default)."""
    server = SmtpSink(None)
    port = await server.start()
    try:
        notifications = world.notifications(port)
        assert notifications.job is not None
        await notifications.outbox.add(INS, ADDRESS, "Dr Alice Martin", world.clock())
        assert await notifications.job.run_once() == 1
    finally:
        await server.stop()
    assert server.transactions == []
    [row] = await notifications.outbox.rows(INS)
    assert (row["state"], row["attempts"]) == (State.PENDING, 1)


async def test_mss_pat_7_racing_deliveries_gather_in_one_row(world: World) -> None:
    outbox = world.notifications(_closed_port()).outbox
    await asyncio.gather(
        *(outbox.add(INS, ADDRESS, f"Dr {n % 7}", world.clock()) for n in range(12))
    )
    [row] = await outbox.rows(INS)
    assert row["messages"] == 12
    assert len(row["names"].split("\n")) == 5  # MAX_NAMES
