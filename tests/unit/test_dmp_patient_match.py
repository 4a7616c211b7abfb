"""DMP-MDN-1 and MSS-MSG-4: documents are filed only for the patient they name."""

from __future__ import annotations

import dataclasses

import pytest

from dmp_bridge.cda import parse_cda
from dmp_bridge.errors import DocumentError, MdnCode
from dmp_bridge.patient_match import archive_patient, check_document
from dmp_bridge.xdm import XdmArchive, read_xdm
from dmp_bridge.xdm_build import build_xdm
from tests.conftest import DATA

VSM = (DATA / "cda" / "VSM_1.4_2022.01.xml").read_bytes()
OBP = (DATA / "cda" / "OBP-SCM_2024.01.xml").read_bytes()
PATIENT = "279035121518989"


def _archive(*cda: bytes) -> XdmArchive:
    return read_xdm(build_xdm(list(cda)))


def test_matching_document_passes() -> None:
    archive = _archive(VSM)
    [doc] = archive.documents
    assert archive_patient(archive) == PATIENT
    check_document(doc, parse_cda(doc.content), PATIENT)


def test_dmp_mdn_1_cda_for_another_patient_is_904() -> None:
    [doc] = _archive(VSM).documents
    with pytest.raises(DocumentError) as caught:
        check_document(doc, parse_cda(doc.content), "277076322082910")
    assert caught.value.code is MdnCode.INS_MISMATCH


def test_dmp_mdn_1_metadata_and_cda_disagreeing_is_904() -> None:
    [doc] = _archive(VSM).documents
    with pytest.raises(DocumentError) as caught:
        check_document(doc, parse_cda(OBP), PATIENT)
    assert caught.value.code is MdnCode.INS_MISMATCH


def test_dmp_mdn_1_metadata_without_ins_is_903() -> None:
    [doc] = _archive(VSM).documents
    no_ins = dataclasses.replace(doc, patient_id="1234567890121^^^&1.2.3.4.567.8.9.10&ISO")
    with pytest.raises(DocumentError) as caught:
        check_document(no_ins, parse_cda(VSM), PATIENT)
    assert caught.value.code is MdnCode.INS_MISSING


def test_mss_msg_4_archive_for_two_patients_is_refused() -> None:
    first, second = _archive(VSM), _archive(OBP)
    mixed = XdmArchive(first.submission_sets + second.submission_sets)
    with pytest.raises(DocumentError, match="several patients"):
        archive_patient(mixed)


def test_uniqueid_differing_from_cda_id_is_refused() -> None:
    [doc] = _archive(VSM).documents
    other = dataclasses.replace(doc, unique_id="1.2.3")
    with pytest.raises(DocumentError, match="uniqueId"):
        check_document(other, parse_cda(VSM), PATIENT)
