"""The filing job (issue 5, item 5): checks, de-duplication, refusal codes, durability, MDN.

The DMP store is the in-memory one (same rules as SQL, tests/contract), the jobs table is SQLite,
the mailbox store the in-memory one: what is proven here is the job's logic and its durability.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from directory.models import Patient, ProfileState
from dmp_bridge.access import DmpAccess
from dmp_bridge.cda import parse_cda
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.store.interfaces import Audit
from dmp_bridge.store.memory import MemoryDmpStore
from dmp_bridge.store.models import Filing, FilingResult, NewDocument
from dmp_bridge.xdm_build import build_xdm
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import Delivered, Delivery
from mss.dmp.filing import DocumentFiler, Prepared
from mss.dmp.jobs import NewJob, SqlFilingJobs
from mss.dmp.mdn import MdnSender
from mss.dmp.tables import metadata
from mss.dmp.worker import FilingHook, FilingWorker
from tests.contract.test_dmp_store_contract import TestSealer
from tests.protocol.dmp_mail import CDA, with_fresh_id, xdm_message

INS = "279035121518989"
OTHER_INS = "277076322082910"
PATIENT = f"{INS}@patient.mssante.fr"
DOCTOR = "dr.martin@hopital.mssante.fr"
MAX = 50 * 1024 * 1024


def _cda(name: str) -> bytes:
    return next(p for p in sorted(CDA.glob("*.xml")) if p.name.startswith(name)).read_bytes()


def _rezip(archive: bytes, edit_metadata: bytes, replacement: bytes) -> bytes:
    """``archive`` with one byte string of its METADATA.XML replaced."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.upper().endswith("METADATA.XML"):
                data = data.replace(edit_metadata, replacement)
            target.writestr(info.filename, data)
    return out.getvalue()


@pytest.fixture
def store() -> MemoryDmpStore:
    return MemoryDmpStore(TestSealer())


@pytest.fixture
def filer(store: MemoryDmpStore) -> DocumentFiler:
    return DocumentFiler(store, max_xdm_size=MAX)


async def test_fixture_is_filed_then_deduplicated(
    filer: DocumentFiler, store: MemoryDmpStore
) -> None:
    """DMP-DOC-1: the same document twice is one document."""
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])])
    first = await filer.file_message(message, INS)
    second = await filer.file_message(message, INS)
    assert first is not None
    assert second is not None
    assert (first.result, len(first.filed), first.duplicates) == ("processed", 1, 0)
    assert (second.result, len(second.filed), second.duplicates) == ("processed", 0, 1)
    [document] = await store.list_documents(INS)
    assert document.rubric == "Prévention et dépistage"
    assert document.source_message_id is not None


async def test_message_without_xdm_gives_no_outcome(filer: DocumentFiler) -> None:
    plain = xdm_message(DOCTOR, PATIENT, [])
    assert await filer.file_message(plain, INS) is None


async def test_dmp_mdn_1_other_patient_is_904(filer: DocumentFiler, store: MemoryDmpStore) -> None:
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("OBP")])])  # OBP is OTHER_INS
    outcome = await filer.file_message(message, INS)
    assert outcome is not None
    assert outcome.code is MdnCode.INS_MISMATCH
    assert outcome.disposition.field_value().endswith("processed/Error: 904^Traits INS incoherents")
    assert await store.list_documents(OTHER_INS) == ()


async def test_dmp_mdn_1_missing_ins_in_metadata_is_903(filer: DocumentFiler) -> None:
    archive = _rezip(
        build_xdm([_cda("VAC")]), b"&amp;1.2.250.1.213.1.4.10&amp;", b"&amp;1.2.3.4&amp;"
    )
    outcome = await filer.file_message(xdm_message(DOCTOR, PATIENT, [archive]), INS)
    assert outcome is not None
    assert outcome.code is MdnCode.INS_MISSING


async def test_mss_msg_4_two_patients_in_one_message(
    filer: DocumentFiler, store: MemoryDmpStore
) -> None:
    archives = [build_xdm([_cda("VAC")]), build_xdm([_cda("OBP")])]
    outcome = await filer.file_message(xdm_message(DOCTOR, PATIENT, archives), INS)
    assert outcome is not None
    assert outcome.code is MdnCode.INS_MISMATCH
    assert await store.list_documents(INS) == ()


async def test_hash_mismatch_is_906_nothing_filed(
    filer: DocumentFiler, store: MemoryDmpStore
) -> None:
    archive = build_xdm([_cda("VAC")])
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        metadata_xml = source.read("IHE_XDM/SUBSET01/METADATA.XML")
    digest = metadata_xml.split(b'<rim:Slot name="hash">', 1)[1].split(b"<rim:Value>", 1)[1][:40]
    archive = _rezip(archive, digest, b"0" * 40)
    outcome = await filer.file_message(xdm_message(DOCTOR, PATIENT, [archive]), INS)
    assert outcome is not None
    assert outcome.code is MdnCode.OTHER
    assert await store.list_documents(INS) == ()


async def test_listener_is_told_and_its_failure_unfiles_nothing(store: MemoryDmpStore) -> None:
    told: list[FilingResult] = []

    async def listener(result: FilingResult) -> None:
        told.append(result)
        raise RuntimeError("trace store down")

    filer = DocumentFiler(store, max_xdm_size=MAX, on_filed=(listener,))
    outcome = await filer.file_message(
        xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])]), INS
    )
    assert outcome is not None
    assert outcome.result == "processed"
    assert len(told) == 1
    assert len(await store.list_documents(INS)) == 1


async def test_dmp_aud_1_filed_with_traces_and_all_or_nothing(store: MemoryDmpStore) -> None:
    """With the access service, a message's documents and their traces are filed together; a
    document the store refuses (902: this one's patient has no record) files none of them."""
    filer = DocumentFiler(store, max_xdm_size=MAX, access=DmpAccess(store))
    vac, bio = _cda("VAC"), _cda("BIO")
    outcome = await filer.file_message(xdm_message(DOCTOR, PATIENT, [build_xdm([vac, bio])]), INS)
    assert outcome is not None
    assert (outcome.result, len(outcome.filed)) == ("processed", 2)
    traced = [t.entry_id for t in await store.traces(INS)]
    assert traced == [d.entry_id for d in outcome.filed]
    assert len(await store.notifications(INS)) == 2

    class NoRecordFor(MemoryDmpStore):  # the store refuses the second document only
        def _file(self, filing: Filing) -> FilingResult:
            if filing.document.unique_id == str(parse_cda(bio).document_id) + ".2":
                raise DocumentError("the patient has no record", code=MdnCode.UNKNOWN_PATIENT)
            return super()._file(filing)

    other = NoRecordFor(TestSealer())
    refused = DocumentFiler(other, max_xdm_size=MAX, access=DmpAccess(other))
    archive = build_xdm([with_fresh_id(vac, "2"), with_fresh_id(bio, "2")])
    outcome = await refused.file_message(xdm_message(DOCTOR, PATIENT, [archive]), INS)
    assert outcome is not None
    assert outcome.code is MdnCode.UNKNOWN_PATIENT
    assert await other.list_documents(INS) == ()  # the first document is not filed either
    assert await other.traces(INS) == []


# --- the hook, the durable job and the worker ---------------------------------------------


@dataclass
class FakePatients:
    async def get_patient(self, address: str) -> Patient | None:
        if address.lower() != PATIENT:
            return None
        return Patient(INS, PATIENT, ProfileState.ACTIVE)


@dataclass(frozen=True)
class Rcpt:
    address: str


@dataclass(frozen=True)
class Outcome:
    recipient: Rcpt
    delivered: Delivered | None


@dataclass(frozen=True)
class Report:
    queue_id: str
    delivered: tuple[Outcome, ...]


@dataclass(frozen=True)
class Env:
    sender: str


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def __call__(self, recipient: str, message: bytes) -> bool:
        self.sent.append((recipient, message))
        return True


@pytest.fixture
async def jobs(sqlite_engine: AsyncEngine) -> SqlFilingJobs:
    async with sqlite_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return SqlFilingJobs(sqlite_engine)


def _worker(
    jobs: SqlFilingJobs, mailboxes: MemoryMailboxStore, store: MemoryDmpStore
) -> tuple[FilingWorker, RecordingTransport]:
    transport = RecordingTransport()
    worker = FilingWorker(
        jobs=jobs,
        mailboxes=mailboxes,
        filer=DocumentFiler(store, max_xdm_size=MAX),
        mdn=MdnSender(transport, hostname="mx.test"),
        poll_interval=0.01,
    )
    return worker, transport


async def _deliver(mailboxes: MemoryMailboxStore, message: bytes, account: str) -> Delivered:
    await mailboxes.create_account(account)
    [copy] = await mailboxes.deliver(message, [Delivery(account)])
    assert isinstance(copy, Delivered)
    return copy


async def test_filing_survives_a_crash_between_the_250_and_the_filing(
    jobs: SqlFilingJobs, store: MemoryDmpStore
) -> None:
    """The hook's job row is durable: a worker started later (after a crash) files the
    document and sends the MDN the sender asked for (DMP-MDN-1)."""
    mailboxes = MemoryMailboxStore()
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])])
    copy = await _deliver(mailboxes, message, PATIENT)
    crashed, _ = _worker(jobs, mailboxes, store)
    hook = FilingHook(jobs=jobs, patients=FakePatients(), worker=crashed)
    await hook(Env(DOCTOR), message, Report("Q1", (Outcome(Rcpt(PATIENT), copy),)))
    assert await jobs.counts() == {"pending": 1}  # the process dies here: nothing ran
    restarted, transport = _worker(jobs, mailboxes, store)
    assert await restarted.run_once() == 1
    assert await jobs.counts() == {"done": 1}
    assert await jobs.result_of(copy.folder_id, copy.uid) == "processed"
    assert len(await store.list_documents(INS)) == 1
    [(to, mdn)] = transport.sent
    assert to == DOCTOR
    assert b"report-type=disposition-notification" in mdn


async def test_a_job_left_running_is_taken_again_after_its_lease(
    sqlite_engine: AsyncEngine, store: MemoryDmpStore
) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    moments = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 5, tzinfo=UTC)])
    clock_jobs = SqlFilingJobs(sqlite_engine, clock=lambda: next(moments))
    mailboxes = MemoryMailboxStore()
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])])
    copy = await _deliver(mailboxes, message, PATIENT)
    plain_jobs = SqlFilingJobs(sqlite_engine)
    worker, _ = _worker(plain_jobs, mailboxes, store)
    hook = FilingHook(jobs=plain_jobs, patients=FakePatients(), worker=worker)
    await hook(Env(DOCTOR), message, Report("Q1", (Outcome(Rcpt(PATIENT), copy),)))
    assert len(await clock_jobs.claim()) == 1  # a node takes it at 00:00 and dies
    assert len(await clock_jobs.claim()) == 1  # 00:05: the lease is over, taken again


async def test_hook_queues_only_patient_copies_of_xdm_messages(
    jobs: SqlFilingJobs, store: MemoryDmpStore
) -> None:
    mailboxes = MemoryMailboxStore()
    worker, _ = _worker(jobs, mailboxes, store)
    hook = FilingHook(jobs=jobs, patients=FakePatients(), worker=worker)
    plain = xdm_message(DOCTOR, PATIENT, [])
    copy = await _deliver(mailboxes, plain, PATIENT)
    await hook(Env(DOCTOR), plain, Report("Q1", (Outcome(Rcpt(PATIENT), copy),)))
    xdm = xdm_message(DOCTOR, "nurse@x.fr", [build_xdm([_cda("VAC")])])
    nurse_copy = await _deliver(mailboxes, xdm, "nurse@x.fr")
    await hook(Env(DOCTOR), xdm, Report("Q2", (Outcome(Rcpt("nurse@x.fr"), nurse_copy),)))
    assert await jobs.counts() == {}


async def test_expunged_copy_is_done_as_gone(jobs: SqlFilingJobs, store: MemoryDmpStore) -> None:
    mailboxes = MemoryMailboxStore()
    await mailboxes.create_account(PATIENT)
    worker, transport = _worker(jobs, mailboxes, store)
    hook = FilingHook(jobs=jobs, patients=FakePatients(), worker=worker)
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])])
    missing = Delivered(PATIENT, folder_id=999, uidvalidity=1, uid=1)
    await hook(Env(DOCTOR), message, Report("Q1", (Outcome(Rcpt(PATIENT), missing),)))
    assert await worker.run_once() == 1
    assert await jobs.result_of(999, 1) == "gone"
    assert transport.sent == []


def test_fixture_folder_is_there() -> None:
    assert isinstance(CDA, Path)
    assert len(list(CDA.glob("*.xml"))) == 12


class BrokenStore(MemoryDmpStore):
    """A store whose writes fail as a database that is down would."""

    async def file(self, document: NewDocument, content: bytes) -> FilingResult:
        raise ConnectionError("database down")

    async def file_all(
        self, filings: Sequence[Filing], audit: Audit | None = None
    ) -> tuple[FilingResult, ...]:
        raise ConnectionError("database down")


async def test_storage_failure_is_retried_then_given_up_as_906(jobs: SqlFilingJobs) -> None:
    """A failure to file is retried (the job goes back), at most ``max_attempts`` times; the
    mail itself is never touched."""
    mailboxes = MemoryMailboxStore()
    message = xdm_message(DOCTOR, PATIENT, [build_xdm([_cda("VAC")])])
    copy = await _deliver(mailboxes, message, PATIENT)
    transport = RecordingTransport()
    worker = FilingWorker(
        jobs=jobs,
        mailboxes=mailboxes,
        filer=DocumentFiler(BrokenStore(TestSealer()), max_xdm_size=MAX),
        mdn=MdnSender(transport, hostname="mx.test"),
        poll_interval=0.2,
        max_attempts=3,
    )
    hook = FilingHook(jobs=jobs, patients=FakePatients(), worker=worker)
    await hook(Env(DOCTOR), message, Report("Q1", (Outcome(Rcpt(PATIENT), copy),)))
    for attempt in range(1, 4):
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0  # not at once: after poll_interval × attempts
        await asyncio.sleep(0.2 * attempt + 0.05)
    assert await worker.run_once() == 0
    assert await jobs.result_of(copy.folder_id, copy.uid) == "906"
    assert await mailboxes.get_body(copy.folder_id, copy.uid) == message
    [(to, mdn)] = transport.sent  # DMP-MDN-1: the sender asked, the sender is told
    assert to == DOCTOR
    assert b"processed/Error: 906^Autre erreur" in mdn


class OrderedStore(MemoryDmpStore):
    """Records the order in which submissions reach the store."""

    def __init__(self) -> None:
        super().__init__(TestSealer())
        self.order: list[str] = []

    async def file_all(
        self, filings: Sequence[Filing], audit: Audit | None = None
    ) -> tuple[FilingResult, ...]:
        self.order.extend(filing.document.unique_id for filing in filings)
        return await super().file_all(filings, audit)


async def test_jobs_are_parsed_ahead_but_filed_in_arrival_order(jobs: SqlFilingJobs) -> None:
    """The worker reads and parses the next jobs while one is filed; filings still reach the
    store in arrival order (a replacement after its parent), whichever parse ends first."""
    mailboxes = MemoryMailboxStore()
    store = OrderedStore()
    cdas = [with_fresh_id(_cda(name), "o") for name in ("TLM", "VAC", "BIO", "LDL", "VSM")]
    new_jobs = []
    for cda in cdas:
        message = xdm_message(DOCTOR, PATIENT, [build_xdm([cda])])
        copy = await _deliver(mailboxes, message, PATIENT)
        new_jobs.append(NewJob("Q", PATIENT, INS, copy.folder_id, copy.uid, DOCTOR))
    await jobs.add(new_jobs)
    filer = DocumentFiler(store, max_xdm_size=MAX, access=DmpAccess(store))
    prepare = filer.prepare
    parsed: list[bytes] = []

    async def slow_first(message: bytes, ins: str) -> Prepared:
        parsed.append(message)
        if len(parsed) == 1:  # the first job's parse ends last
            await asyncio.sleep(0.2)
        return await prepare(message, ins)

    filer.prepare = slow_first  # type: ignore[method-assign,assignment]
    worker = FilingWorker(
        jobs=jobs,
        mailboxes=mailboxes,
        filer=filer,
        mdn=MdnSender(RecordingTransport(), hostname="mx.test"),
        poll_interval=0.01,
        concurrency=4,
    )
    assert await worker.run_once() == len(cdas)
    assert len(parsed) == len(cdas)
    assert store.order == [str(parse_cda(cda).document_id) for cda in cdas]
    assert await jobs.counts() == {"done": len(cdas)}
