"""DMP-CLASS-1/2: type → class → rubric from the versioned data tables."""

from __future__ import annotations

import pytest

from dmp_bridge.classification import OTHER_DOCUMENTS, classify, default_tables, load_tables
from dmp_bridge.errors import DocumentError
from tests.conftest import FIXTURES

CLASS_CODES = {"10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", "99"}


def test_dmp_class_1_every_j07_type_has_a_known_class() -> None:
    tables = default_tables()
    assert len(tables.types) == 114
    assert set(tables.types) == set(tables.classes)
    assert set(tables.classes.values()) <= CLASS_CODES


def test_shipped_j07_matches_the_shared_fixture() -> None:
    source = FIXTURES / "J07-XdsTypeCode-CISIS.txt"
    if not source.exists():
        pytest.skip("shared fixtures absent")
    codes = {line.split("|")[0] for line in source.read_text("utf-8").splitlines() if line}
    assert codes == set(default_tables().types)


def test_tables_are_versioned() -> None:
    assert all(version.startswith("20") for version in default_tables().versions)


@pytest.mark.parametrize(
    ("type_code", "class_code", "rubric"),
    [
        ("SYNTH", "11", "Ma santé en résumé"),
        ("60591-5", "11", "Ma santé en résumé"),
        ("57833-6", "42", "Ordonnances et soins"),
        ("60593-1", "43", "Ordonnances et soins"),
        ("18776-5", "44", "Ordonnances et soins"),
        ("80565-5", "45", "Ordonnances et soins"),
        ("18748-4", "31", "Imagerie"),
        ("11502-2", "10", "Résultats de biologie"),
        ("51969-4", "10", "Résultats de biologie"),
        ("11488-4", "10", "Comptes rendus"),
        ("85208-7", "10", "Comptes rendus"),
        ("11369-6", "10", "Prévention et dépistage"),
        ("87273-9", "10", "Prévention et dépistage"),
        ("96874-3", "52", "Prévention et dépistage"),
        ("75492-9", "10", "Prévention et dépistage"),
        ("75482-0", "10", "Prévention et dépistage"),
        ("28617-9", "10", "Prévention et dépistage"),
        ("68817-6", "10", "Prévention et dépistage"),
        ("83869-8", "44", "Prévention et dépistage"),
        ("CERT_DECL", "52", "Certificats médicaux"),
        ("89601-9", "52", "Certificats médicaux"),
        ("PIECE-IDENTITE", "95", "Pièces administratives"),
        ("DOCPAT03", "90", "Autres documents"),
        ("DOCPAT08", "90", "Synthèse de mon profil médical"),
    ],
)
def test_dmp_class_2_examples(type_code: str, class_code: str, rubric: str) -> None:
    """DMP-CLASS-2: the examples of the rule land in their rubric."""
    found = classify(type_code)
    assert (found.class_code, found.rubric) == (class_code, rubric)


def test_dmp_class_2_unknown_type_goes_to_other_documents() -> None:
    found = classify("NOT-A-TYPE")
    assert found.class_code is None
    assert found.rubric == OTHER_DOCUMENTS


def test_dmp_class_2_patient_filed_documents_are_flagged() -> None:
    """DOCPAT01–09 are shown to professionals as "Espace personnel"."""
    assert all(classify(f"DOCPAT0{i}").patient_filed for i in range(1, 10))
    assert not classify("SYNTH").patient_filed


def test_rubric_rules_are_data_an_operator_can_change() -> None:
    j07 = "# version: 1\nX|sys|Type X\nY|sys|Type Y\n"
    type_class = "# version: 1\ntype_code|code_system|class_code\nX|sys|10\nY|sys|11\n"
    rubrics = "# version: 2\nmatch|value|rubric\ntype|X|Rubrique X\ndefault||Reste\n"
    tables = load_tables(j07, type_class, rubrics)
    assert classify("X", tables).rubric == "Rubrique X"
    assert classify("Y", tables).rubric == "Reste"
    assert tables.versions == ("1", "1", "2")


def test_type_class_table_naming_unknown_types_is_refused() -> None:
    with pytest.raises(ValueError, match="absent from J07"):
        load_tables("A|s|a\n", "h\nB|s|10\n", "h\ndefault||x\n")


def test_document_error_is_not_temporary() -> None:
    assert DocumentError("x").temporary is False
