"""DMP-CDA-1: every ANS sample CDA parses with the right header values."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dmp_bridge.cda import BodyKind, InstanceId, parse_cda
from tests.conftest import DATA

CDA_DIR = DATA / "cda"
NIR_TEST = "1.2.250.1.213.1.4.10"
NIR = "1.2.250.1.213.1.4.8"
LOINC = "2.16.840.1.113883.6.1"
ANS_TYPES = "1.2.250.1.213.1.1.4.12"


@dataclass(frozen=True)
class Expected:
    ins: str
    ins_oid: str
    type_code: str
    type_system: str
    title_start: str
    effective_time: str
    rpps: str | None
    custodian: str
    doc_id: str
    set_id: str
    version: int
    replaces: str | None
    body: BodyKind


P1, P2, P3 = "279035121518989", "277076322082910", "223042545611404"
S = BodyKind.STRUCTURED
EXPECTED = {
    "BIO-CR-BIO_2024.01_TSH_1.xml": Expected(
        P1, NIR_TEST, "11502-2", LOINC, "Compte rendu d'examens", "20210401171000+0100",
        "01234534765", "Laboratoire des charmes", "1.2.250.1.213.1.1.1.55.2024.9.1",
        "1.2.250.1.213.1.1.1.55.2024.9", 1, None, S,
    ),
    "CNAM-HR_2021.01.xml": Expected(
        P1, NIR_TEST, "REMB", ANS_TYPES, "Données de remboursement", "20190701164900+0100",
        None, "Assurance Maladie", "1.2.250.1.213.1.1.1.36.2021.1.1",
        "1.2.250.1.213.1.1.1.36.2021.1", 1, None, S,
    ),
    "CSE-CS8_2024.01.xml": Expected(
        P3, NIR, "CERT_DECL", ANS_TYPES, "PREMIER CERTIFICAT DE SANTE", "20210503114500+0100",
        "01234567897", "Clinique du Belvédère", "1.2.250.1.213.1.1.1.5.1.2024.1.1",
        "1.2.250.1.213.1.1.1.5.1.2024.1", 1, "1.2.250.1.213.1.1.1.5.1.1", S,
    ),
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": Expected(
        P1, NIR_TEST, "11502-2", LOINC, "Compte rendu d'examens", "20210401134745+0100",
        "01234534765", "Laboratoire des charmes", "1.3.6.1.4.1.19376.1.2.20.12345.1.1",
        "1.3.6.1.4.1.19376.1.2.20.12345.1", 1, None, BodyKind.PDF,
    ),
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": Expected(
        P1, NIR_TEST, "18748-4", LOINC, "CR d’imagerie médicale - Scanner", "20210108111700+0100",
        "01234560801", "Centre de radiologie Ambroise", "1.2.250.1.213.1.1.1.45.2024.2.1",
        "1.2.250.1.213.1.1.1.45.2024.2", 2, "90E1C8EC-F951-4B26-A305-A34848818DD6", BodyKind.PDF,
    ),
    "LDL-SES_2022.01.xml": Expected(
        P1, NIR_TEST, "11490-0", LOINC, "Lettre de liaison à la sortie", "20191203133000+0100",
        "01234567897", "Hôpital Européen Georges Pompidou", "1.2.250.1.213.1.1.1.29.2022.1.1",
        "1.2.250.1.213.1.1.1.29.2022.1", 1, None, S,
    ),
    "OBP-SCM_2024.01.xml": Expected(
        P2, NIR, "89235-6", LOINC, "Synthèse Suites de Couches Mère", "20210328111700+0100",
        "01234567897", "Clinique du Belvédère", "1.2.250.1.213.1.1.1.12.4.2024.1.1",
        "1.2.250.1.213.1.1.1.12.4.2024.1", 1, None, S,
    ),
    "TLM-CR_2022.01.xml": Expected(
        P1, NIR_TEST, "85208-7", LOINC, "Compte-rendu de téléconsultation", "20200327153500+0100",
        "01234567123", "GRP HOSP UNIVERSITAIRE PARIS OUEST SITE G POMPIDOU APHP",
        "1.3.6.1.4.1.19376.1.2.20.2022.1.1", "1.3.6.1.4.1.19376.1.2.20.2022.1", 1, None,
        BodyKind.PDF,
    ),
    "VAC_2023.01.xml": Expected(
        P1, NIR_TEST, "11369-6", LOINC, "Historique de vaccinations", "20210409170000+0100",
        "01234567897", "Assurance Maladie", "1.2.250.1.213.1.1.1.37.2023.1.1",
        "1.2.250.1.213.1.1.1.37.2023.1", 1, None, S,
    ),
    "VSM_1.4_2022.01.xml": Expected(
        P1, NIR_TEST, "SYNTH", ANS_TYPES, "Synthèse Médicale", "20200312111700+0100",
        "01234567897", "Centre de soins le Belvédère", "1.2.250.1.213.1.1.1.13.2022.1.1",
        "1.2.250.1.213.1.1.1.13.2022.1", 1, None, S,
    ),
    "eDISP-MED_2024.01.xml": Expected(
        P2, NIR, "60593-1", LOINC, "Dispensation médicamenteuse", "20241225093000+0100",
        "07505123456", "CONSEIL NATIONAL ORDRE DES PHARMACIENS",
        "1.2.250.1.213.1.1.1.54.2024.1.1", "1.2.250.1.213.1.1.1.54.2024.1", 1, None, S,
    ),
    "eP-MED-DM_2024.01_PosoStruct.xml": Expected(
        P1, NIR_TEST, "57833-6", LOINC, "Prescription de médicaments", "20231201093000+0100",
        "01234567897", "Cabinet du DR Pierre JOLI", "1.2.250.1.213.1.1.1.39.2024.2.1",
        "1.2.250.1.213.1.1.1.39.2024.2", 1, None, S,
    ),
}  # fmt: skip


def test_every_sample_has_expectations() -> None:
    assert sorted(p.name for p in CDA_DIR.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dmp_cda_1_header_of_sample(name: str) -> None:
    """DMP-CDA-1: INS and OID, type, title, dates, author RPPS, custodian, ids, RPLC, body."""
    expected = EXPECTED[name]
    header = parse_cda((CDA_DIR / name).read_bytes())
    assert (header.patient_ins, header.patient_ins_oid) == (expected.ins, expected.ins_oid)
    assert (header.type.code, header.type.code_system) == (
        expected.type_code,
        expected.type_system,
    )
    assert header.title.startswith(expected.title_start)
    assert header.effective_time == expected.effective_time
    assert header.confidentiality.code == "N"
    assert header.author_rpps == expected.rpps
    assert header.custodian_name == expected.custodian
    assert header.document_id == InstanceId(expected.doc_id)
    assert header.set_id == InstanceId(expected.set_id)
    assert header.version == expected.version
    expected_parent = InstanceId(expected.replaces) if expected.replaces else None
    assert header.replaces == expected_parent
    assert header.body is expected.body


def test_facility_and_practice_setting_are_read() -> None:
    header = parse_cda((CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes())
    assert header.facility_type is not None
    assert header.facility_type.code == "SA04"
    assert header.practice_setting is not None
    assert header.practice_setting.code == "ETABLISSEMENT"


def test_twenty_megabyte_structured_cda_parses() -> None:
    """A 20 MB CDA parses; its body sections are dropped while parsing (memory stays low)."""
    data = (CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()
    start = data.index(b"<structuredBody>") + len(b"<structuredBody>")
    end = data.index(b"</structuredBody>")
    body = data[start:end]
    big = data[:start] + body * (20_000_000 // len(body) + 1) + data[end:]
    header = parse_cda(big)
    assert header.patient_ins == "279035121518989"
    assert header.body is BodyKind.STRUCTURED
