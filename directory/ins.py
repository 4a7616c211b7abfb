"""The INS (Identifiant National de Santé) of a patient and the patient address built on it.

MSS-INS-1: a patient address is ``<matricule INS>@<patient domain>``. The matricule has 15
characters: the 13-character NIR or NIA (sex 1, year 2, month 2, place 5, order 3; the first two
characters of the place may be ``2A``/``2B`` for Corsica) and a 2-digit key
``97 - (number mod 97)`` where ``2A`` counts as ``19`` and ``2B`` as ``18``. Pure functions.
"""

from __future__ import annotations

import re

from directory.errors import InvalidIns

# MSS-INS-1: sex+year+month (5 digits), department (2 digits, 2A or 2B), commune+order (6 digits).
_BODY = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{6}", re.ASCII)
_KEY = re.compile(r"[0-9]{2}", re.ASCII)
_CORSICA = {"2A": "19", "2B": "18"}

INS_LENGTH = 15
BODY_LENGTH = 13


def _numeric_body(first13: str) -> int:
    department = first13[5:7]
    digits = first13[:5] + _CORSICA.get(department, department) + first13[7:]
    return int(digits)


def _checked_body(first13: str) -> str:
    body = first13.strip().upper()
    if len(body) != BODY_LENGTH or not _BODY.fullmatch(body):
        raise InvalidIns(
            "an INS starts with 13 characters: digits, with 2A or 2B allowed at positions 6-7"
        )
    return body


def ins_key(first13: str) -> str:
    """The 2-digit key of a 13-character NIR/NIA (MSS-INS-1)."""
    body = _checked_body(first13)
    return f"{97 - _numeric_body(body) % 97:02d}"


def make_ins(first13: str) -> str:
    """The full 15-character INS for a 13-character NIR/NIA body (builds valid test INS)."""
    body = _checked_body(first13)
    return body + ins_key(body)


def validate_ins(value: str) -> str:
    """The normalised (upper-case) 15-character INS, or ``InvalidIns`` saying what is wrong."""
    ins = value.strip().upper()
    if len(ins) != INS_LENGTH:
        raise InvalidIns(f"an INS has {INS_LENGTH} characters, not {len(ins)}")
    body, key = ins[:BODY_LENGTH], ins[BODY_LENGTH:]
    body = _checked_body(body)
    if not _KEY.fullmatch(key):
        raise InvalidIns("the last 2 characters of an INS (its key) are digits")
    if key != ins_key(body):  # MSS-INS-1: key = 97 - (number mod 97)
        raise InvalidIns("the INS key does not match its first 13 characters")
    return ins


def patient_address(ins: str, domain: str) -> str:
    """The patient's mailbox address ``<ins>@<domain>``, lower-cased (MSS-INS-1)."""
    return f"{validate_ins(ins).lower()}@{domain.strip().lower()}"


def ins_from_address(address: str, domain: str) -> str | None:
    """The INS of a patient address on ``domain``; ``None`` when it is not a valid one."""
    local, at, host = address.rpartition("@")
    if not at or local != local.strip() or host.strip().lower() != domain.strip().lower():
        return None
    try:
        return validate_ins(local)
    except InvalidIns:
        return None
