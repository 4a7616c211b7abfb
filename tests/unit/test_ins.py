"""MSS-INS-1: INS syntax, key, and patient addresses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.errors import InvalidIns
from directory.ins import ins_from_address, ins_key, make_ins, patient_address, validate_ins

DOMAIN = "patient.mssante.fr"
BODIES = st.text(alphabet="0123456789", min_size=13, max_size=13)
CORSICAN_BODIES = st.tuples(
    st.text(alphabet="0123456789", min_size=5, max_size=5),
    st.sampled_from(["2A", "2B", "2a", "2b"]),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
).map("".join)


def test_ins_1_known_key() -> None:
    """MSS-INS-1: 97 - (2840763220174 mod 97) = 97 - 66 = 31."""
    assert ins_key("2840763220174") == "31"
    assert validate_ins("284076322017431") == "284076322017431"


def test_ins_1_corsica_counts_2a_as_19_and_2b_as_18() -> None:
    """MSS-INS-1: the key of a Corsican body is computed with 2A -> 19 and 2B -> 18."""
    assert ins_key("185012A123456") == f"{97 - 1850119123456 % 97:02d}"
    assert ins_key("185012B123456") == f"{97 - 1850118123456 % 97:02d}"
    assert ins_key("185012A123456") != ins_key("185012B123456")
    assert validate_ins("185012a123456" + ins_key("185012A123456")) == make_ins("185012A123456")


def test_ins_1_corsica_only_in_the_department() -> None:
    """MSS-INS-1: ``2A``/``2B`` are allowed only as the two first characters of the place."""
    with pytest.raises(InvalidIns):
        make_ins("1850102A12345")


def test_ins_1_corsica_and_digits_give_the_same_key() -> None:
    """MSS-INS-1: ``2A`` is read as ``19``, so both spellings share a key."""
    assert ins_key("18501" + "2A" + "123456") == ins_key("18501" + "19" + "123456")


def test_ins_1_normalised_upper_case() -> None:
    ins = make_ins("285042b123456")
    assert ins == ins.upper()
    assert validate_ins(ins.lower()) == ins
    assert validate_ins(f"  {ins} ") == ins


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "15 characters"),
        ("28407632201741", "15 characters"),
        ("2840763220174190", "15 characters"),
        ("284076322017430", "key does not match"),
        ("2840763220174AB", "key"),
        ("2A4076322017431", "13 characters"),
        ("28407632C017431", "13 characters"),
        ("284076322０17431", "13 characters"),  # a full-width digit
        ("٢٨٤٠٧٦٣٢٢٠١٧٤٣١", "13 characters"),  # Arabic-Indic digits
    ],
)
def test_ins_1_invalid_refused_with_a_clear_message(value: str, why: str) -> None:
    with pytest.raises(InvalidIns, match=why):
        validate_ins(value)


@given(BODIES)
def test_ins_1_any_body_with_its_key_validates(body: str) -> None:
    """MSS-INS-1: every 13-digit body followed by its computed key is a valid INS."""
    assert validate_ins(body + ins_key(body)) == body + ins_key(body)
    assert 1 <= int(ins_key(body)) <= 97


@given(CORSICAN_BODIES)
def test_ins_1_any_corsican_body_with_its_key_validates(body: str) -> None:
    assert validate_ins(make_ins(body)) == make_ins(body)


@given(BODIES, st.integers(min_value=0, max_value=1), st.integers(min_value=1, max_value=9))
def test_ins_1_one_changed_key_digit_fails(body: str, position: int, shift: int) -> None:
    """MSS-INS-1: changing one digit of the key makes the INS invalid."""
    key = list(ins_key(body))
    key[position] = str((int(key[position]) + shift) % 10)
    with pytest.raises(InvalidIns):
        validate_ins(body + "".join(key))


@given(st.text())
def test_ins_1_arbitrary_text_raises_only_invalid_ins(value: str) -> None:
    try:
        result = validate_ins(value)
    except InvalidIns:
        return
    assert len(result) == 15


@given(st.text(max_size=40))
def test_ins_1_helpers_raise_only_invalid_ins(value: str) -> None:
    for helper in (ins_key, make_ins):
        with contextlib.suppress(InvalidIns):
            assert len(helper(value)) in (2, 15)


def test_patient_address_is_lower_case_ins_at_domain() -> None:
    ins = make_ins("185012A123456")
    assert patient_address(ins, "Patient.MSSante.fr") == f"{ins.lower()}@patient.mssante.fr"
    with pytest.raises(InvalidIns):
        patient_address("123", DOMAIN)


def test_ins_from_address() -> None:
    ins = make_ins("185012B123456")
    assert ins_from_address(f"{ins.lower()}@PATIENT.mssante.fr", DOMAIN) == ins
    assert ins_from_address(f"{ins}@other.fr", DOMAIN) is None
    wrong_key = f"{(int(ins[13:]) % 97) + 1:02d}"
    assert ins_from_address(f"{ins[:13]}{wrong_key}@{DOMAIN}", DOMAIN) is None
    assert ins_from_address("not-an-ins@patient.mssante.fr", DOMAIN) is None
    assert ins_from_address(f" {ins}@{DOMAIN}", DOMAIN) is None
    assert ins_from_address("no at sign", DOMAIN) is None


@given(st.text(max_size=60))
def test_ins_from_address_never_raises(address: str) -> None:
    result = ins_from_address(address, DOMAIN)
    assert result is None or validate_ins(result) == result
