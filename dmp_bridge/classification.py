"""Type code → class code → rubric of the patient's record (DMP-CLASS-1, DMP-CLASS-2).

The tables are data files in ``dmp_bridge/data`` (versioned on their first line), not code:
``J07-XdsTypeCode-CISIS.txt`` (the ANS type codes), ``type-class.csv`` (type → class, after
ASS_X04/ASS_X16) and ``rubrics.csv`` (ordered rules: a type rule, a class rule or the default;
the first that matches wins). An unknown type has no class and lands in "Autres documents".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

PATIENT_FILED_CLASS = "90"
OTHER_DOCUMENTS = "Autres documents"


@dataclass(frozen=True, slots=True)
class TypeCode:
    code: str
    code_system: str
    display_name: str


@dataclass(frozen=True, slots=True)
class RubricRule:
    match: str  # "type", "class" or "default"
    value: str
    rubric: str


@dataclass(frozen=True, slots=True)
class Classification:
    """Where a document of ``type_code`` belongs; ``class_code`` is None for an unknown type."""

    type_code: str
    class_code: str | None
    rubric: str
    display_name: str | None

    @property
    def patient_filed(self) -> bool:
        """DMP-CLASS-2: filed by the patient; shown to professionals as "Espace personnel"."""
        return self.class_code == PATIENT_FILED_CLASS


@dataclass(frozen=True, slots=True)
class Tables:
    types: dict[str, TypeCode]
    classes: dict[str, str]
    rules: tuple[RubricRule, ...]
    versions: tuple[str, ...]


def classify(type_code: str, tables: Tables | None = None) -> Classification:
    """DMP-CLASS-1/2: the class and rubric of a document of ``type_code``."""
    tables = tables or default_tables()
    class_code = tables.classes.get(type_code)
    known = tables.types.get(type_code)
    return Classification(
        type_code=type_code,
        class_code=class_code,
        rubric=rubric_for(type_code, class_code, tables.rules),
        display_name=known.display_name if known else None,
    )


def rubric_for(type_code: str, class_code: str | None, rules: tuple[RubricRule, ...]) -> str:
    """The rubric of the first rule matching the type or the class (DMP-CLASS-2)."""
    for rule in rules:
        if (
            (rule.match == "type" and rule.value == type_code)
            or (rule.match == "class" and rule.value == class_code)
            or rule.match == "default"
        ):
            return rule.rubric
    return OTHER_DOCUMENTS


@cache
def default_tables() -> Tables:
    """The tables shipped in ``dmp_bridge/data`` (read once)."""
    j07, type_class, rubrics = (
        _read("J07-XdsTypeCode-CISIS.txt"),
        _read("type-class.csv"),
        _read("rubrics.csv"),
    )
    return load_tables(j07, type_class, rubrics)


def load_tables(j07: str, type_class: str, rubrics: str) -> Tables:
    """Tables from the text of the three data files (operators may ship newer ones)."""
    types = {row[0]: TypeCode(*row[:3]) for row in _rows(j07, 3)}
    classes = {row[0]: row[2] for row in _rows(type_class, 3, header=True)}
    rules = tuple(RubricRule(*row[:3]) for row in _rows(rubrics, 3, header=True))
    unknown = sorted(set(classes) - set(types))
    if unknown:
        raise ValueError(f"type-class table names types absent from J07: {unknown}")
    versions = tuple(_version(text) for text in (j07, type_class, rubrics))
    return Tables(types=types, classes=classes, rules=rules, versions=versions)


def _read(name: str) -> str:
    return resources.files("dmp_bridge").joinpath("data", name).read_text(encoding="utf-8")


def _rows(text: str, width: int, *, header: bool = False) -> Iterator[list[str]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines[1:] if header else lines:
        fields = [field.strip() for field in line.split("|")]
        if len(fields) < width:
            raise ValueError(f"a classification row has {len(fields)} fields, not {width}")
        yield fields


def _version(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    if not first.startswith("# version:"):
        return ""
    return (first.removeprefix("# version:").split() or [""])[0]
