"""The matrice d'habilitation (DMP-ACL-1): profession (and speciality) × document → may read.

Data, not code: ``dmp_bridge/data/matrice-habilitation.csv`` (versioned on its first line; the
operator may ship a newer one and load it with ``load_matrix``). The most specific row wins: the
actor's speciality before ``*``, then a type row before a class row before an ``all`` row.
Documented default: no row, no access.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

ANY = "*"
MATCHES = ("type", "class", "all")
ACCESS = {"read": True, "none": False}
_Key = tuple[str, str, str, str]  # profession, speciality, match, value


@dataclass(frozen=True, slots=True)
class Matrix:
    """``may_read`` over the rows of one matrix file; ``version`` from its first line."""

    rows: dict[_Key, bool]
    version: str

    def may_read(
        self, profession: str, speciality: str | None, type_code: str, class_code: str | None
    ) -> bool:
        """DMP-ACL-1: whether this profession/speciality may read a document of this type."""
        specialities = (speciality, ANY) if speciality else (ANY,)
        wanted = (("type", type_code), ("class", class_code or ""), ("all", ANY))
        for current in specialities:
            for match, value in wanted:
                found = self.rows.get((profession, current, match, value))
                if found is not None:
                    return found
        return False  # the documented default: no access


@cache
def default_matrix() -> Matrix:
    """The matrix shipped in ``dmp_bridge/data`` (read once)."""
    path = resources.files("dmp_bridge").joinpath("data", "matrice-habilitation.csv")
    return load_matrix(path.read_text(encoding="utf-8"))


def load_matrix(text: str) -> Matrix:
    """A matrix from the text of a matrix file; ``ValueError`` names a malformed row."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rows: dict[_Key, bool] = {}
    for number, line in enumerate(lines[1:], start=2):
        key, access = _row(line, number)
        rows[key] = access
    return Matrix(rows=rows, version=_version(text))


def _row(line: str, number: int) -> tuple[_Key, bool]:
    fields = [field.strip() for field in line.split("|")]
    if len(fields) != 5 or fields[2] not in MATCHES or fields[4] not in ACCESS:
        raise ValueError(f"matrix row {number} is malformed")
    profession, speciality, match, value, access = fields
    if not profession or not speciality or not value:
        raise ValueError(f"matrix row {number} has an empty field")
    return (profession, speciality, match, value), ACCESS[access]


def _version(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    if not first.startswith("# version:"):
        return ""
    return (first.removeprefix("# version:").split() or [""])[0]
