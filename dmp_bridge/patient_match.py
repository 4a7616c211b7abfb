"""Check that an XDM archive's documents are for the recipient patient (DMP-MDN-1, MSS-MSG-4); pure.

Before filing, each document entry's patientId (metadata) and its CDA's INS must both name the
patient the message was addressed to. Missing INS in the metadata is code 903; metadata, CDA or
recipient disagreeing is code 904 ("a CDA for another patient"). An archive whose documents name
more than one patient is refused as a whole (MSS-MSG-4) — *(chosen)* with code 904 as well.
Code 902 (unknown patient) is for the store, which knows whether the patient has a record.
"""

from __future__ import annotations

from dmp_bridge.cda import CdaHeader
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.xdm import XdmArchive, XdmDocument


def archive_patient(archive: XdmArchive) -> str:
    """MSS-MSG-4: the one INS every document of ``archive`` is for; ``DocumentError`` if not one."""
    patients = {_metadata_ins(doc) for doc in archive.documents}
    if len(patients) != 1:
        raise DocumentError(
            "the archive holds documents for several patients", code=MdnCode.INS_MISMATCH
        )
    return patients.pop()


def check_document(document: XdmDocument, header: CdaHeader, recipient_ins: str) -> None:
    """DMP-MDN-1: metadata INS, CDA INS and recipient INS must be one and the same."""
    metadata_ins = _metadata_ins(document)
    if header.patient_ins != metadata_ins:
        raise DocumentError(
            "the CDA and its metadata name different patients", code=MdnCode.INS_MISMATCH
        )
    if header.patient_ins != recipient_ins:
        raise DocumentError("the document is for another patient", code=MdnCode.INS_MISMATCH)
    if str(header.document_id) != document.unique_id:
        raise DocumentError("the CDA id differs from the metadata uniqueId")


def _metadata_ins(document: XdmDocument) -> str:
    ins = document.patient_ins
    if ins is None:
        raise DocumentError("a document entry has no INS patientId", code=MdnCode.INS_MISSING)
    return ins
