"""Records and documents of the embedded DMP store (DMP-DOC-1): frozen values, no I/O.

A patient's record is keyed by INS. A ``StoredDocument`` is one version of one document: its entry
id (a UUID of ours), its ``unique_id`` (the CDA id, used for de-duplication), its logical id
(``set_id``) and version, its status and where it lands (type, class, rubric). ``NewDocument`` is
what the bridge knows before filing: the CDA header, its classification, who submitted it and from
which message. Hash (SHA-1) and size are computed by the store from the content, never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from dmp_bridge.cda import CdaHeader
from dmp_bridge.classification import Classification

CDA_MIME_TYPE = "text/xml"
# (chosen) an HL7 time without an offset is French local time.
LOCAL_TIME = ZoneInfo("Europe/Paris")
_HL7_TIME = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?\Z")


class DocumentStatus(StrEnum):
    """DMP-DOC-1: a document version is approved, deprecated (replaced) or deleted (logically)."""

    APPROVED = "approved"
    DEPRECATED = "deprecated"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class DmpRecord:
    """One patient's record (one per INS)."""

    ins: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document about to be filed: what its CDA, its classification and its sender tell."""

    unique_id: str
    set_id: str
    version: int
    patient_ins: str
    type_code: str
    class_code: str | None
    rubric: str
    confidentiality: tuple[str, ...]
    author_id: str
    author_org: str | None
    creation_time: datetime | None
    title: str
    mime_type: str = CDA_MIME_TYPE
    replaces_unique_id: str | None = None
    source_message_id: str | None = None

    @classmethod
    def from_cda(
        cls,
        header: CdaHeader,
        classification: Classification,
        *,
        author_org: str | None = None,
        confidentiality: tuple[str, ...] | None = None,
        source_message_id: str | None = None,
        mime_type: str = CDA_MIME_TYPE,
    ) -> NewDocument:
        """The document of a parsed CDA; the author is its RPPS, else its author id.

        ``author_org`` defaults to the custodian id; ``confidentiality`` to the CDA's one code
        (XDM metadata may add more, such as ``MASQUE_PS``).
        """
        author = header.author_rpps or (str(header.author_id) if header.author_id else "")
        custodian = str(header.custodian_id) if header.custodian_id else None
        return cls(
            unique_id=str(header.document_id),
            set_id=str(header.set_id),
            version=header.version,
            patient_ins=header.patient_ins,
            type_code=header.type.code,
            class_code=classification.class_code,
            rubric=classification.rubric,
            confidentiality=confidentiality or (header.confidentiality.code,),
            author_id=author,
            author_org=author_org or custodian,
            creation_time=hl7_time(header.effective_time),
            title=header.title,
            mime_type=mime_type,
            replaces_unique_id=str(header.replaces) if header.replaces else None,
            source_message_id=source_message_id,
        )


@dataclass(frozen=True, slots=True)
class Filing:
    """A document to file and its content (``DmpStore.file_all``); ``sha1``: the SHA-1 hex of
    ``content`` when the caller computed it from these very bytes (the XDM reader does, to check
    the metadata), so that the store need not hash them again — never a value merely claimed."""

    document: NewDocument
    content: bytes
    sha1: str | None = None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One filed version of a document (DMP-DOC-1)."""

    entry_id: UUID
    unique_id: str
    set_id: str
    version: int
    status: DocumentStatus
    patient_ins: str
    type_code: str
    class_code: str | None
    rubric: str
    confidentiality: tuple[str, ...]
    author_id: str
    author_org: str | None
    creation_time: datetime | None
    submission_time: datetime
    sha1: str
    size: int
    mime_type: str
    title: str
    source_message_id: str | None
    replaces: UUID | None
    replaces_unique_id: str | None
    content_key: str  # SHA-256 hex of the plaintext content


@dataclass(frozen=True, slots=True)
class FilingResult:
    """The outcome of ``DmpStore.file``: the document, whether it was already there, and the
    parent version it deprecated, if any."""

    document: StoredDocument
    duplicate: bool
    deprecated: StoredDocument | None = None


def hl7_time(value: str) -> datetime | None:
    """An HL7 TS (``YYYYMMDDHHMMSS+ZZZZ``, trailing parts optional) as an aware UTC datetime."""
    match = _HL7_TIME.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        local = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=LOCAL_TIME if offset is None else _offset(offset),
        )
    except ValueError:
        return None
    return local.astimezone(UTC)


def _offset(value: str) -> timezone:
    sign = -1 if value[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(value[1:3]), minutes=int(value[3:5])))
