"""The access part of every ``DmpStore`` (memory, SQLite, PostgreSQL) and ``DmpAccess`` over it:
patient settings and document flags (DMP-ACL-2/3), append-only traces the patient reads, the
notification outbox (DMP-AUD-1)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dmp_bridge.access import (
    AccessMode,
    Action,
    DmpAccess,
    LegalRepresentative,
    NotificationKind,
    Patient,
    Professional,
    Reason,
    Regulator,
)
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.access_models import (
    ActorKind,
    NewNotification,
    NewTrace,
    RecipientKind,
)
from dmp_bridge.store.errors import UnknownDocument
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.memory import MemoryDmpStore
from dmp_bridge.store.models import StoredDocument
from dmp_bridge.store.sql import SqlDmpStore
from dmp_bridge.store.tables import TRACES_APPEND_ONLY_MESSAGE, metadata, traces
from mss.schema import METADATA, upgrade
from tests.contract.test_dmp_store_contract import NOW, TestSealer, _cda, _clock

VAC = "VAC_2023.01.xml"  # patient 279035121518989, class 10, author RPPS below
INS = "279035121518989"
OTHER_INS = "277076322082910"
DOCTOR = Professional("10000000003", "10", "SM26")
NURSE = Professional("10000000004", "60")
KINE = Professional("10000000005", "70")  # the matrix refuses him vaccination records
TREATING = Professional("10000000002", "10", "SM54")
REGULATOR = Regulator("10000000010", "10")


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> AsyncEngine | None:
    if backend == "memory":
        return None
    fixture = "pg_engine" if backend == "postgres" else "sqlite_engine"
    found: AsyncEngine = request.getfixturevalue(fixture)
    return found


@pytest.fixture
async def store(engine: AsyncEngine | None) -> AsyncIterator[DmpStore]:
    if engine is None:
        yield MemoryDmpStore(TestSealer(), clock=_clock())
        return
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    yield SqlDmpStore(engine, TestSealer(), clock=_clock())
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


async def _filed(store: DmpStore, *codes: str) -> StoredDocument:
    """The vaccination fixture filed in its record, with extra confidentiality ``codes``."""
    document, content = _cda(VAC)
    if codes:
        document = dataclasses.replace(
            document, confidentiality=(*document.confidentiality, *codes)
        )
    await store.ensure_record(document.patient_ins)
    return (await store.file(document, content)).document


def _trace(actor_id: str = DOCTOR.rpps, *, allowed: bool = True, ins: str = INS) -> NewTrace:
    return NewTrace(
        ins=ins,
        at=NOW,
        actor_kind=ActorKind.PROFESSIONAL,
        actor_id=actor_id,
        action=Action.READ if allowed else Action.DELETE,
        mode=AccessMode.NORMAL,
        allowed=allowed,
        reason=Reason.GRANTED if allowed else Reason.NOT_AUTHOR,
        profession="10",
    )


def _note(
    kind: NotificationKind = NotificationKind.FIRST_ACCESS,
    *,
    due: datetime = NOW,
    ins: str = INS,
    actor_id: str = DOCTOR.rpps,
) -> NewNotification:
    return NewNotification(
        ins=ins,
        kind=kind,
        recipient_kind=RecipientKind.PATIENT,
        recipient=ins,
        created_at=NOW,
        due_at=due,
        actor_id=actor_id,
    )


# --- store: patient settings and document flags (DMP-ACL-2/3) ----------------------------------


async def test_dmp_acl_3_settings_default_then_change(store: DmpStore) -> None:
    settings = await store.patient_settings(INS)
    assert (settings.medecin_traitant, settings.opposes_emergency) == (None, False)
    assert settings.blocked == settings.legal_representatives == frozenset()
    await store.ensure_record(INS)
    await store.set_medecin_traitant(INS, TREATING.rpps)
    await store.set_emergency_opposition(INS, True)
    for rpps in (DOCTOR.rpps, NURSE.rpps, NURSE.rpps):
        await store.set_blocked(INS, rpps, True)
    await store.set_legal_representative(INS, "REP-1", True)
    settings = await store.patient_settings(INS)
    assert settings.medecin_traitant == TREATING.rpps
    assert settings.opposes_emergency
    assert settings.blocked == {DOCTOR.rpps, NURSE.rpps}
    assert settings.legal_representatives == {"REP-1"}
    await store.set_blocked(INS, NURSE.rpps, False)
    await store.set_legal_representative(INS, "REP-1", False)
    await store.set_emergency_opposition(INS, False)
    await store.set_medecin_traitant(INS, None)
    settings = await store.patient_settings(INS)
    assert settings.blocked == {DOCTOR.rpps}
    assert settings.legal_representatives == frozenset()
    assert (settings.medecin_traitant, settings.opposes_emergency) == (None, False)
    assert (await store.patient_settings(OTHER_INS)).blocked == frozenset()


async def test_settings_of_a_patient_without_record_are_902(store: DmpStore) -> None:
    with pytest.raises(DocumentError) as caught:
        await store.set_blocked(INS, DOCTOR.rpps, True)
    assert caught.value.code is MdnCode.UNKNOWN_PATIENT


async def test_dmp_acl_2_document_flags(store: DmpStore) -> None:
    document = await _filed(store)
    flags = await store.document_flags(document.entry_id)
    assert (flags.masked_by_patient, flags.announced_at) == (False, None)
    await store.set_masked_by_patient(document.entry_id, True)
    assert (await store.document_flags(document.entry_id)).masked_by_patient
    first = await store.mark_announced(document.entry_id, NOW)
    again = await store.mark_announced(document.entry_id, NOW + timedelta(days=3))
    assert first.announced_at == again.announced_at == NOW  # the first consultation counts
    await store.set_masked_by_patient(document.entry_id, False)
    flags = await store.document_flags(document.entry_id)
    assert (flags.masked_by_patient, flags.announced_at) == (False, NOW)
    with pytest.raises(UnknownDocument):
        await store.set_masked_by_patient(uuid4(), True)


# --- store: traces and notifications (DMP-AUD-1) ------------------------------------------------


async def test_dmp_aud_1_traces_round_trip_in_order_per_record(store: DmpStore) -> None:
    entry = uuid4()
    full = dataclasses.replace(
        _trace(), mode=AccessMode.BRIS_DE_GLACE, entry_id=entry, justification="coma"
    )
    first = await store.record_access(full)
    await store.record_access(_trace(ins=OTHER_INS))
    second = await store.record_access(_trace(NURSE.rpps, allowed=False))
    assert first.id < second.id
    found = await store.traces(INS)
    assert found == [first, second]
    assert found[0].entry_id == entry
    assert found[0].mode is AccessMode.BRIS_DE_GLACE
    assert found[0].justification == "coma"
    assert found[0].at == NOW
    assert (found[1].allowed, found[1].reason) == (False, Reason.NOT_AUTHOR)


async def test_dmp_aud_1_first_access_is_notified_once_per_professional(store: DmpStore) -> None:
    await store.record_access(_trace(NURSE.rpps, allowed=False), first_access=_note())
    assert await store.notifications(INS) == []  # a refusal is no access
    for _ in range(3):
        await store.record_access(_trace(), first_access=_note())
    await store.record_access(_trace(NURSE.rpps), first_access=_note(actor_id=NURSE.rpps))
    await store.record_access(_trace(ins=OTHER_INS), first_access=_note(ins=OTHER_INS))
    notified = [(n.ins, n.actor_id) for n in await store.notifications(INS)]
    assert notified == [(INS, DOCTOR.rpps), (INS, NURSE.rpps)]
    assert len(await store.notifications(OTHER_INS)) == 1


async def test_dmp_aud_1_racing_first_accesses_notify_once(store: DmpStore) -> None:
    await asyncio.gather(*(store.record_access(_trace(), first_access=_note()) for _ in range(6)))
    assert len(await store.traces(INS)) == 6
    assert len(await store.notifications(INS)) == 1


async def test_notification_outbox_due_and_sent(store: DmpStore) -> None:
    later = NOW + timedelta(weeks=2)
    await store.record_access(_trace(), [_note(NotificationKind.NEW_DOCUMENT, due=later), _note()])
    due = await store.due_notifications(NOW)
    assert [n.kind for n in due] == [NotificationKind.FIRST_ACCESS]
    await store.mark_notification_sent(due[0].id, NOW)
    await store.mark_notification_sent(due[0].id, later)  # the first sending counts
    assert await store.due_notifications(NOW) == []
    assert [n.kind for n in await store.due_notifications(later)] == [NotificationKind.NEW_DOCUMENT]
    sent = [n for n in await store.notifications(INS) if n.sent_at is not None]
    assert [n.sent_at for n in sent] == [NOW]
    assert len(await store.due_notifications(later, limit=0)) == 0


async def test_dmp_aud_1_traces_are_append_only_in_sql(engine: AsyncEngine | None) -> None:
    if engine is None:
        pytest.skip("the memory store has no SQL to refuse")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    store = SqlDmpStore(engine, TestSealer())
    await store.record_access(_trace())
    for statement in (update(traces).values(allowed=False), delete(traces)):
        with pytest.raises(Exception, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(statement)
    assert len(await store.traces(INS)) == 1
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


async def test_dmp_aud_1_traces_append_only_after_migration(engine: AsyncEngine | None) -> None:
    if engine is None:
        pytest.skip("migrations are SQL")
    await _reset(engine)
    await upgrade(engine, "0006")  # this history, not the later ones
    store = SqlDmpStore(engine, TestSealer())
    await store.record_access(_trace())
    with pytest.raises(Exception, match=TRACES_APPEND_ONLY_MESSAGE):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM dmp_traces"))
    await _reset(engine)


async def _reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for each in METADATA:
            await conn.run_sync(each.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


# --- DmpAccess over each store: decided, traced, notified -----------------------------------------


async def test_dmp_aud_1_filing_traces_and_notifies_the_patient(store: DmpStore) -> None:
    access = DmpAccess(store)
    document, content = _cda(VAC)
    await store.ensure_record(INS)
    result = await store.file(document, content)
    now = result.document.submission_time
    trace = await access.record_new_document(result, now)
    again = await access.record_new_document(await store.file(document, content), now)
    assert (trace.action, trace.actor_id, trace.entry_id) == (
        Action.FILE,
        document.author_id,
        result.document.entry_id,
    )
    assert again.id > trace.id
    notes = await store.notifications(INS)
    assert [(n.kind, n.entry_id, n.due_at) for n in notes] == [
        (NotificationKind.NEW_DOCUMENT, result.document.entry_id, now)
    ]  # the duplicate tells nothing new


async def test_dmp_acl_2_invisible_patient_notice_after_two_weeks(store: DmpStore) -> None:
    access = DmpAccess(store)
    document, content = _cda(VAC)
    document = dataclasses.replace(document, confidentiality=("N", "INVISIBLE_PATIENT"))
    await store.ensure_record(INS)
    result = await store.file(document, content)
    await access.record_new_document(result, result.document.submission_time)
    submitted = result.document.submission_time
    assert await store.due_notifications(submitted + timedelta(days=13)) == []
    due = await store.due_notifications(submitted + timedelta(weeks=2))
    assert [n.kind for n in due] == [NotificationKind.NEW_DOCUMENT]
    patient = Patient(INS)
    hidden = await access.read_document(patient, result.document.entry_id, submitted)
    assert (hidden.decision.reason, hidden.document) == (Reason.INVISIBLE_PATIENT, None)
    assert (await access.list_documents(patient, INS, submitted)).documents == ()
    month = submitted + timedelta(days=31)
    shown = await access.read_document(patient, result.document.entry_id, month)
    assert shown.document == result.document


async def test_dmp_aud_1_first_access_notified_once_and_traces_read_by_patient(
    store: DmpStore,
) -> None:
    access = DmpAccess(store)
    document = await _filed(store)
    for _ in range(2):
        read = await access.read_document(DOCTOR, document.entry_id, NOW)
        assert read.document == document
    refused = await access.read_document(KINE, document.entry_id, NOW)
    assert (refused.decision.allowed, refused.decision.reason) == (False, Reason.MATRIX)
    firsts = [n for n in await store.notifications(INS) if n.kind is NotificationKind.FIRST_ACCESS]
    assert [n.actor_id for n in firsts] == [DOCTOR.rpps]
    decision, trail = await access.traces_for(Patient(INS), INS, NOW)
    assert decision.allowed
    assert [(t.actor_id, t.allowed, t.reason) for t in trail] == [
        (DOCTOR.rpps, True, Reason.GRANTED),
        (DOCTOR.rpps, True, Reason.GRANTED),
        (KINE.rpps, False, Reason.MATRIX),
        (INS, True, Reason.GRANTED),  # reading the traces is itself traced
    ]
    assert trail[0].profession == "10"
    assert trail[0].entry_id == document.entry_id
    stranger, nothing = await access.traces_for(DOCTOR, INS, NOW)
    assert (stranger.reason, nothing) == (Reason.ACTION_NOT_ALLOWED, [])


async def test_dmp_acl_3_emergency_access_notifies_patient_and_medecin_traitant(
    store: DmpStore,
) -> None:
    access = DmpAccess(store)
    document = await _filed(store)
    await store.set_medecin_traitant(INS, TREATING.rpps)
    listing = await access.list_documents(
        DOCTOR, INS, NOW, mode=AccessMode.BRIS_DE_GLACE, justification="arrêt cardiaque"
    )
    assert listing.decision.allowed
    assert listing.documents == (document,)
    emergency = [
        (n.recipient_kind, n.recipient)
        for n in await store.notifications(INS)
        if n.kind is NotificationKind.EMERGENCY_ACCESS
    ]
    assert emergency == [
        (RecipientKind.PATIENT, INS),
        (RecipientKind.MEDECIN_TRAITANT, TREATING.rpps),
    ]
    trace = (await store.traces(INS))[-1]
    assert (trace.mode, trace.justification) == (AccessMode.BRIS_DE_GLACE, "arrêt cardiaque")


async def test_dmp_acl_3_emergency_refused_when_opposed_is_traced_not_notified(
    store: DmpStore,
) -> None:
    access = DmpAccess(store)
    document = await _filed(store)
    assert (await access.set_emergency_opposition(Patient(INS), INS, True, NOW)).allowed
    read = await access.read_document(REGULATOR, document.entry_id, NOW, mode=AccessMode.CENTRE_15)
    assert (read.decision.reason, read.document) == (Reason.EMERGENCY_OPPOSED, None)
    assert await store.notifications(INS) == []
    last = (await store.traces(INS))[-1]
    assert (last.actor_kind, last.allowed, last.reason) == (
        ActorKind.REGULATOR,
        False,
        Reason.EMERGENCY_OPPOSED,
    )


async def test_dmp_acl_3_patient_masks_and_blocks_through_the_service(store: DmpStore) -> None:
    access = DmpAccess(store)
    document = await _filed(store)
    patient = Patient(INS)
    denied = await access.set_masked(DOCTOR, document.entry_id, True, NOW)
    assert denied.reason is Reason.ACTION_NOT_ALLOWED
    assert not (await store.document_flags(document.entry_id)).masked_by_patient
    assert (await access.set_masked(patient, document.entry_id, True, NOW)).allowed
    hidden = await access.read_document(DOCTOR, document.entry_id, NOW)
    assert hidden.decision.reason is Reason.MASKED_BY_PATIENT
    assert (await access.list_documents(DOCTOR, INS, NOW)).documents == ()
    assert (await access.list_documents(patient, INS, NOW)).documents == (document,)
    assert (await access.set_blocked(patient, INS, DOCTOR.rpps, True, NOW)).allowed
    listing = await access.list_documents(DOCTOR, INS, NOW)
    assert (listing.decision.reason, listing.documents) == (Reason.BLOCKED, ())


async def test_legal_representative_acts_once_listed(store: DmpStore) -> None:
    access = DmpAccess(store)
    document = await _filed(store, "INVISIBLE_REP_LEGAUX")
    representative = LegalRepresentative("REP-1")
    before = await access.list_documents(representative, INS, NOW)
    assert before.decision.reason is Reason.NOT_REPRESENTATIVE
    assert (await access.set_legal_representative(Patient(INS), INS, "REP-1", True, NOW)).allowed
    read = await access.read_document(representative, document.entry_id, NOW)
    assert read.decision.reason is Reason.INVISIBLE_REPRESENTANTS_LEGAUX
    assert (await access.list_documents(representative, INS, NOW)).documents == ()


async def test_announcement_by_the_author_makes_invisible_document_visible(
    store: DmpStore,
) -> None:
    access = DmpAccess(store)
    document = await _filed(store, "INVISIBLE_PATIENT")
    author = Professional(document.author_id, "10")
    at = document.submission_time + timedelta(days=1)
    assert (await access.announce(DOCTOR, document.entry_id, at)).reason is Reason.NOT_AUTHOR
    assert (await access.announce(author, document.entry_id, at)).allowed
    shown = await access.read_document(Patient(INS), document.entry_id, at)
    assert shown.document == document


async def test_an_unknown_document_is_unknown(store: DmpStore) -> None:
    with pytest.raises(UnknownDocument):
        await DmpAccess(store).read_document(DOCTOR, uuid4(), datetime.now(UTC))


async def test_record_flags_gives_the_flags_of_one_record(store: DmpStore) -> None:
    document = await _filed(store)
    other, content = _cda("OBP-SCM_2024.01.xml")
    await store.ensure_record(other.patient_ins)
    elsewhere = (await store.file(other, content)).document
    assert await store.record_flags(INS) == {}
    await store.set_masked_by_patient(document.entry_id, True)
    await store.mark_announced(elsewhere.entry_id, NOW)
    flags = await store.record_flags(INS)
    assert list(flags) == [document.entry_id]
    assert flags[document.entry_id].masked_by_patient
