"""The patient's "Espace personnel" (issue 5, item 5): any attachment of a received message,
filed by the patient as their own document (class 90, DOCPAT types, DMP-CLASS-1/2, DMP-DOC-1)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

import pytest

from directory.models import Patient, ProfileState
from dmp_bridge.access import Actor
from dmp_bridge.access import Patient as PatientActor
from dmp_bridge.errors import DocumentError
from dmp_bridge.store.memory import MemoryDmpStore
from dmp_bridge.store.models import FilingResult
from mailbox_store.memory import MemoryMailboxStore
from mailbox_store.models import Delivered, Delivery
from mss.dmp.personal import PersonalSpace
from tests.contract.test_dmp_store_contract import TestSealer

INS = "279035121518989"
PATIENT = f"{INS}@patient.mssante.fr"
OTHER = "277076322082910@patient.mssante.fr"
PDF = b"%PDF-1.4\n% a lab result scanned by the patient\n%%EOF\n"


class Patients:
    async def get_patient(self, address: str) -> Patient | None:
        ins = address.partition("@")[0]
        if address not in (PATIENT, OTHER):
            return None
        return Patient(ins, address, ProfileState.ACTIVE)


def _message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "dr.martin@hopital.mssante.fr"
    msg["To"] = PATIENT
    msg["Subject"] = "Votre résultat"
    msg["Message-ID"] = "<r1@hopital.mssante.fr>"
    msg.set_content("Bonjour, voici votre résultat.\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="resultat.pdf")
    return msg.as_bytes()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[FilingResult, Actor | None]] = []

    async def __call__(self, result: FilingResult, now: datetime, actor: Actor | None) -> object:
        self.calls.append((result, actor))
        return None


@pytest.fixture
async def setup() -> tuple[PersonalSpace, MemoryDmpStore, Delivered, Recorder, MemoryMailboxStore]:
    mailboxes = MemoryMailboxStore()
    for account in (PATIENT, OTHER):
        await mailboxes.create_account(account)
    [copy] = await mailboxes.deliver(_message(), [Delivery(PATIENT)])
    assert isinstance(copy, Delivered)
    dmp = MemoryDmpStore(TestSealer())
    recorder = Recorder()
    space = PersonalSpace(
        dmp=dmp, mailboxes=mailboxes, patients=Patients(), max_size=1024 * 1024, on_filed=recorder
    )
    return space, dmp, copy, recorder, mailboxes


async def test_patient_files_an_attachment_once(
    setup: tuple[PersonalSpace, MemoryDmpStore, Delivered, Recorder, MemoryMailboxStore],
) -> None:
    space, dmp, copy, recorder, _ = setup
    first = await space.file_attachment(
        PATIENT, copy.folder_id, copy.uid, "2", type_code="DOCPAT05"
    )
    again = await space.file_attachment(
        PATIENT, copy.folder_id, copy.uid, "2", type_code="DOCPAT05"
    )
    assert not first.duplicate
    assert again.duplicate  # DMP-DOC-1: the same attachment twice is one document
    document = first.document
    assert (document.class_code, document.type_code) == ("90", "DOCPAT05")
    assert document.rubric == "Autres documents"  # DMP-CLASS-2: class 90
    assert document.mime_type == "application/pdf"
    assert document.title == "resultat.pdf"
    assert document.author_id == INS
    assert document.source_message_id == "<r1@hopital.mssante.fr>"
    assert await dmp.content(document.entry_id) == PDF
    assert [actor for _, actor in recorder.calls] == [PatientActor(INS), PatientActor(INS)]


async def test_profile_synthesis_has_its_own_rubric(
    setup: tuple[PersonalSpace, MemoryDmpStore, Delivered, Recorder, MemoryMailboxStore],
) -> None:
    space, _, copy, _, _ = setup
    result = await space.file_attachment(
        PATIENT, copy.folder_id, copy.uid, "2", type_code="DOCPAT08"
    )
    assert result.document.rubric == "Synthèse de mon profil médical"


async def test_refusals(
    setup: tuple[PersonalSpace, MemoryDmpStore, Delivered, Recorder, MemoryMailboxStore],
) -> None:
    space, dmp, copy, _, _ = setup
    with pytest.raises(DocumentError, match="DOCPAT"):  # a professional's type
        await space.file_attachment(PATIENT, copy.folder_id, copy.uid, "2", type_code="11502-2")
    with pytest.raises(DocumentError, match="no such message"):  # another patient's mail
        await space.file_attachment(OTHER, copy.folder_id, copy.uid, "2", type_code="DOCPAT05")
    with pytest.raises(DocumentError, match="no such message"):
        await space.file_attachment(PATIENT, copy.folder_id, 999, "2", type_code="DOCPAT05")
    with pytest.raises(DocumentError, match="no such part"):
        await space.file_attachment(PATIENT, copy.folder_id, copy.uid, "7", type_code="DOCPAT05")
    with pytest.raises(DocumentError, match="part number"):
        await space.file_attachment(PATIENT, copy.folder_id, copy.uid, "2..", type_code="DOCPAT05")
    with pytest.raises(DocumentError, match="no such patient"):
        await space.file_attachment("x@y.fr", copy.folder_id, copy.uid, "2", type_code="DOCPAT05")
    assert await dmp.list_documents(INS) == ()


async def test_size_cap(
    setup: tuple[PersonalSpace, MemoryDmpStore, Delivered, Recorder, MemoryMailboxStore],
) -> None:
    _, dmp, copy, _, mailboxes = setup
    small = PersonalSpace(dmp=dmp, mailboxes=mailboxes, patients=Patients(), max_size=10)
    with pytest.raises(DocumentError, match="larger"):
        await small.file_attachment(PATIENT, copy.folder_id, copy.uid, "2", type_code="DOCPAT05")
