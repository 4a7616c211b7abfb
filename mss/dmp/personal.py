"""The patient's "Espace personnel": file any attachment of a received message into the record.

``PersonalSpace.file_attachment`` is the service call the webmail will make (issue 5, item 5). The
document is filed as the patient's own (class 90, a ``DOCPAT`` type, DMP-CLASS-2; the patient is
its author, so only they may replace or delete it, DMP-DOC-1). Its uniqueId is derived from the
patient and the content *(chosen)*: filing the same attachment twice gives one document.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from dmp_bridge.access import Actor
from dmp_bridge.access import Patient as PatientActor
from dmp_bridge.classification import PATIENT_FILED_CLASS, classify
from dmp_bridge.errors import DocumentError
from dmp_bridge.store.interfaces import DmpStore
from dmp_bridge.store.models import FilingResult, NewDocument
from mailbox_store.errors import UnknownMessage
from mailbox_store.interfaces import MailboxStore
from mss.dmp.attachments import message_id, part_by_number
from mss.dmp.worker import Patients


class FiledBy(Protocol):
    async def __call__(self, result: FilingResult, now: datetime, actor: Actor | None) -> object:
        """DMP-AUD-1: the trace of a filing by ``actor``."""
        ...


_UNIQUE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mss:espace-personnel")
DEFAULT_TITLE = "Document déposé par le patient"


class PersonalSpace:
    def __init__(
        self,
        *,
        dmp: DmpStore,
        mailboxes: MailboxStore,
        patients: Patients,
        max_size: int,
        on_filed: FiledBy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._on_filed = on_filed
        self._dmp = dmp
        self._mailboxes = mailboxes
        self._patients = patients
        self._max = max_size
        self._clock = clock

    async def file_attachment(
        self,
        patient_address: str,
        folder_id: int,
        uid: int,
        part: str,
        *,
        type_code: str,
        title: str | None = None,
    ) -> FilingResult:
        """File part ``part`` of message ``uid`` in the patient's folder ``folder_id``.

        ``DocumentError`` when the message is not the patient's, the part does not exist or is
        too large, or ``type_code`` is not a patient type (class 90, DMP-CLASS-1).
        """
        kind = classify(type_code)
        if kind.class_code != PATIENT_FILED_CLASS:
            raise DocumentError("a patient files documents of a DOCPAT type (class 90) only")
        patient = await self._patients.get_patient(patient_address)
        if patient is None:
            raise DocumentError("no such patient")
        message = await self._message(patient.address, folder_id, uid)
        attachment = part_by_number(message, part)
        if len(attachment.content) > self._max:
            raise DocumentError(f"the attachment is larger than {self._max} bytes")
        await self._dmp.ensure_record(patient.ins)
        unique_id = _unique_id(patient.ins, attachment.content)
        document = NewDocument(
            unique_id=unique_id,
            set_id=unique_id,
            version=1,
            patient_ins=patient.ins,
            type_code=type_code,
            class_code=kind.class_code,
            rubric=kind.rubric,
            confidentiality=("N",),
            author_id=patient.ins,
            author_org=None,
            creation_time=self._clock(),
            title=(title or attachment.filename or DEFAULT_TITLE).strip()[:255] or DEFAULT_TITLE,
            mime_type=attachment.content_type,
            source_message_id=message_id(message),
        )
        result = await self._dmp.file(document, attachment.content)
        if self._on_filed is not None:  # DMP-AUD-1: traced as the patient's own action
            await self._on_filed(result, self._clock(), PatientActor(patient.ins))
        return result

    async def _message(self, account: str, folder_id: int, uid: int) -> bytes:
        folders = await self._mailboxes.list_folders(account)
        if all(folder.id != folder_id for folder in folders):  # only the patient's own mail
            raise DocumentError("no such message")
        try:
            return await self._mailboxes.get_body(folder_id, uid)
        except UnknownMessage:
            raise DocumentError("no such message") from None


def _unique_id(ins: str, content: bytes) -> str:
    """An OID under ``2.25`` (UUID-based), stable for one patient and one content."""
    digest = hashlib.sha256(content).hexdigest()
    return "2.25." + str(uuid.uuid5(_UNIQUE_ID_NAMESPACE, f"{ins}:{digest}").int)
