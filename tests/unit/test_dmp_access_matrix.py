"""DMP-ACL-1: the matrice d'habilitation is a versioned data file with a documented default."""

from __future__ import annotations

import pytest

from dmp_bridge.access.matrix import default_matrix, load_matrix

HEADER = "# version: 2030-01-01.1\nprofession|speciality|match|value|access\n"


def test_dmp_acl_1_shipped_matrix_is_versioned_and_not_empty() -> None:
    matrix = default_matrix()
    assert matrix.version.startswith("20")
    assert len(matrix.rows) > 20


def test_dmp_acl_1_an_operator_matrix_replaces_the_shipped_one() -> None:
    matrix = load_matrix(HEADER + "60|*|class|10|read\n60|*|type|11488-4|none\n")
    assert matrix.version == "2030-01-01.1"
    assert matrix.may_read("60", None, "34794-8", "10")
    assert not matrix.may_read("60", None, "11488-4", "10")  # a type row beats a class row


def test_dmp_acl_1_most_specific_row_wins() -> None:
    text = HEADER + "10|*|all|*|read\n10|SM99|class|52|none\n"
    matrix = load_matrix(text)
    assert matrix.may_read("10", "SM54", "CERT_DECL", "52")
    assert not matrix.may_read("10", "SM99", "CERT_DECL", "52")
    assert matrix.may_read("10", "SM99", "11488-4", "10")  # falls back to the "*" row


def test_dmp_acl_1_default_is_no_access() -> None:
    matrix = load_matrix(HEADER)
    assert not matrix.may_read("10", None, "11488-4", "10")
    assert not matrix.may_read("", None, "", None)


@pytest.mark.parametrize(
    "row",
    ["10|*|class|10", "10|*|kind|10|read", "10|*|class|10|write", "10||class|10|read"],
)
def test_a_malformed_matrix_is_refused_with_its_row(row: str) -> None:
    with pytest.raises(ValueError, match="row 2"):
        load_matrix(HEADER + row + "\n")
