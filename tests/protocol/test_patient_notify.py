"""MSS-PAT-7 and DMP-AUD-1 end to end: a professional's message (and documents) submitted over
SMTP to a demo patient become notification e-mails at a smarthost (STARTTLS required) addressed
to the patient's personal address, naming the sender, with no health content."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from config import Settings
from directory.ins import make_ins, patient_address
from directory.models import Patient, ProfileState
from dmp_bridge.access import Patient as DmpPatient
from dmp_bridge.access import Professional
from dmp_bridge.cda import parse_cda
from dmp_bridge.store.access_models import AccessMode
from dmp_bridge.xdm_build import build_xdm
from mss.app import open_operator
from mss.notify.outbox import State
from mss.notify.tables import dmp_attempts
from tests.protocol.dmp_mail import (
    PATIENT_DOMAIN,
    cda_bytes,
    ensure_patient,
    fixtures,
    send_as_doctor,
    wait_for_filing,
    with_fresh_id,
    xdm_message,
)
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message
from tests.protocol.notify_smarthost import recipient, smarthost, smarthost_pki, text_of
from tests.protocol.relay_sink import SmtpSink, Transaction

T = TypeVar("T")
SUBJECT = "Resultat serologie VIH confidentiel"
BODY = "Charge virale indetectable, traitement antiretroviral a poursuivre.\n"


class SinkThread:
    """The smarthost on an event loop of its own (the operator has its own thread and loop)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = self.call(sink.start())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def stop(self) -> None:
        self.call(self.sink.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[Transaction]:
        deadline = time.monotonic() + timeout
        while True:
            found = [t for t in list(self.sink.delivered) if recipient(t) == address]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} notification(s) to {address}, not {count}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def notified(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningOperator, SinkThread]]:
    certs = smarthost_pki(tmp_path_factory.mktemp("smarthost"))
    sink = SinkThread(smarthost(certs))
    operator = RunningOperator(tmp_path_factory.mktemp("demo"))
    notify = operator.settings.notify.model_copy(
        update={
            "smarthost": f"127.0.0.1:{sink.port}",
            "ca_file": certs.ca,
            "coalesce_window": 0.0,  # one e-mail per message here; coalescing: the job tests
            "poll_interval": 0.2,
        }
    )
    operator.settings = operator.settings.model_copy(update={"notify": notify})
    operator.start()
    try:
        yield operator, sink
    finally:
        operator.stop()
        sink.stop()


def _doctor(running: RunningOperator) -> dict[str, Any]:
    return running.account("PER", rpps="10001234567")


def test_mss_pat_7_a_message_notifies_the_patient_without_health_content(
    notified: tuple[RunningOperator, SinkThread],
) -> None:
    running, sink = notified
    doctor = _doctor(running)
    patient = running.account("PATIENT", state="active")
    email = f"patient+{patient['ins'][-4:]}@example.org"
    data = message(doctor["address"], patient["address"], subject=SUBJECT, body=BODY)
    send_as_doctor(running, patient["address"], data)

    [sent] = sink.wait_for(email)
    shown = text_of(sent)
    assert "Dr Alice Martin" in shown  # from whom, by name (MSS-PAT-5)
    assert "Nouveau message" in shown
    assert shown.index("Bonjour") < shown.index("Hello")  # French first
    for secret in (SUBJECT, "VIH", "Charge virale", "antiretroviral", doctor["address"]):
        assert secret not in shown
        assert secret.encode() not in sent.body
    assert sink.sink.commands.index("STARTTLS") < sink.sink.commands.index(sent.mail)
    assert f"<ne-pas-repondre@{running.settings.smtp.hostname}>" in sent.mail


def test_dmp_aud_1_a_filed_document_notifies_and_is_marked_sent(
    notified: tuple[RunningOperator, SinkThread],
) -> None:
    running, sink = notified
    cda = with_fresh_id(cda_bytes(next(p for p in fixtures() if p.name.startswith("VAC"))), "n1")
    header = parse_cda(cda)
    address = patient_address(header.patient_ins, PATIENT_DOMAIN)

    async def personal_address() -> str:  # the fixture's patient may be a demo patient
        directory = running.operator.directory
        found = await directory.get_patient(address)
        if found is None:
            found = await directory.add_patient(
                Patient(
                    header.patient_ins,
                    address,
                    ProfileState.ACTIVE,
                    notification_email="record.owner@example.org",
                )
            )
        assert found.notification_email
        return found.notification_email

    email = running.call(personal_address())
    ensure_patient(running, header.patient_ins)
    doctor = _doctor(running)["address"]
    send_as_doctor(running, address, xdm_message(doctor, address, [build_xdm([cda])]))
    wait_for_filing(running)

    found = sink.wait_for(email, count=2)  # the message, then the new document
    shown = [text_of(t) for t in found]
    assert any("Nouveau document dans votre dossier" in s for s in shown)
    for text in shown:
        assert header.title not in text
        assert header.type.code not in text
        assert "Vaccination" not in text
    _wait_dmp_sent(running, header.patient_ins)


def test_mss_pat_7_patient_without_personal_address_is_skipped(
    notified: tuple[RunningOperator, SinkThread],
) -> None:
    running, sink = notified
    ins = make_ins("1850599123456")  # not a demo patient
    address = ensure_patient(running, ins)  # no notification_email
    before = len(sink.sink.transactions)
    send_as_doctor(running, address, message(_doctor(running)["address"], address))
    notifications = running.operator.notifications
    assert notifications is not None
    deadline = time.monotonic() + 30
    while True:
        rows = running.call(notifications.outbox.rows(ins))
        if rows and rows[-1]["state"] != State.PENDING:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    assert rows[-1]["state"] == State.SKIPPED
    assert len(sink.sink.transactions) == before


def _wait_dmp_sent(running: RunningOperator, ins: str) -> None:
    """DMP-AUD-1: the DMP outbox's rows are marked sent and their attempts say ``sent``."""
    dmp = running.operator.dmp
    assert dmp is not None

    async def states() -> list[str]:
        ids = [n.id for n in await dmp.store.notifications(ins) if n.sent_at is not None]
        query = select(dmp_attempts.c.state).where(dmp_attempts.c.notification_id.in_(ids))
        async with running.operator.engine.connect() as conn:
            return [str(s) for s in (await conn.execute(query)).scalars()]

    deadline = time.monotonic() + 30
    while (found := running.call(states())) == [] and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = running.call(dmp.store.notifications(ins))
    assert [n.kind.value for n in rows] == ["new_document"]
    assert found == [State.SENT]


def test_mss_pat_7_smarthost_down_then_restart_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The smarthost is down: the row is retried and kept; after a restart of the operator with
    the smarthost back, the notification goes out (the outbox is in the database)."""
    running = RunningOperator(tmp_path_factory.mktemp("demo-down"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    notify = running.settings.notify.model_copy(
        update={"smarthost": f"127.0.0.1:{closed}", "retry_schedule": [0.1], "poll_interval": 1.0}
    )
    running.settings = running.settings.model_copy(update={"notify": notify})
    running.start()
    patient = running.account("PATIENT", state="active")
    try:
        send_as_doctor(running, patient["address"], message("x@y", patient["address"]))
        notifications = running.operator.notifications
        assert notifications is not None
        deadline = time.monotonic() + 30
        while not _retried(rows := running.call(notifications.outbox.rows(patient["ins"]))):
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)
        assert rows[0]["state"] == State.PENDING
    finally:  # the job now waits for its next scan: the stop finds no row claimed
        running.stop()

    certs = smarthost_pki(tmp_path_factory.mktemp("smarthost-back"))
    sink = SinkThread(smarthost(certs))
    back = notify.model_copy(update={"smarthost": f"127.0.0.1:{sink.port}", "ca_file": certs.ca})
    try:
        asyncio.run(
            _restart_and_send(running.settings.model_copy(update={"notify": back}), patient["ins"])
        )
        [sent] = sink.wait_for(f"patient+{patient['ins'][-4:]}@example.org")
        assert "Dr Alice Martin" in text_of(sent)
    finally:
        sink.stop()


def _retried(rows: list[dict[str, Any]]) -> bool:
    """Tried twice and handed back for a retry (not claimed: a claim holds it for the lease)."""
    soon = datetime.now(UTC) + timedelta(seconds=10)
    return bool(rows) and rows[0]["attempts"] >= 2 and rows[0]["next_attempt_at"] < soon


async def _restart_and_send(settings: Settings, ins: str) -> None:
    async with open_operator(settings) as operator:
        assert operator.notifications is not None
        assert operator.notifications.job is not None
        await asyncio.sleep(0.2)  # the last retry delay
        assert await operator.notifications.job.run_once() == 1
        [row] = await operator.notifications.outbox.rows(ins)
        assert row["state"] == State.SENT


def test_dmp_acl_3_bris_de_glace_notifies_patient_and_medecin_traitant(
    notified: tuple[RunningOperator, SinkThread],
) -> None:
    """An emergency access: the patient hears of it at their personal address (smarthost), the
    médecin traitant in their own BAL (the operator's delivery path)."""
    running, sink = notified
    patient = running.account("PATIENT", state="active")
    ins, email = patient["ins"], f"patient+{patient['ins'][-4:]}@example.org"
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")  # "Paul Durand"
    dmp = running.operator.dmp
    assert dmp is not None
    before = len(inbox(running, doctor["address"]))
    already = len(sink.wait_for(email, count=0))

    async def emergency() -> None:
        now = datetime.now(UTC)
        await dmp.store.ensure_record(ins)
        await dmp.access.set_medecin_traitant(DmpPatient(ins), ins, doctor["rpps"], now)
        await dmp.access.list_documents(
            Professional(nurse["rpps"], "10"),
            ins,
            now,
            mode=AccessMode.BRIS_DE_GLACE,
            justification="patient inconscient",
        )

    running.call(emergency())
    shown = [text_of(t) for t in sink.wait_for(email, count=already + 2)[already:]]
    assert any("consulté en urgence par Paul Durand" in s for s in shown)
    assert any("pour la première fois par Paul Durand" in s for s in shown)
    deadline = time.monotonic() + 30
    while len(mail := inbox(running, doctor["address"])) == before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [raw] = mail[before:]
    notice = message_from_bytes(raw, policy=policy.default)
    assert isinstance(notice, EmailMessage)
    assert str(notice["Subject"]).startswith("Accès en urgence")
    body = notice.get_body(("plain",))
    assert body is not None
    assert ins in body.get_content()
    assert "Paul Durand" in body.get_content()
