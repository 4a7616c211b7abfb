"""Read the header of a CDA R2 document into a ``CdaHeader`` (DMP-CDA-1); pure, no I/O.

The XML goes through the hardened parser (SEC-IN-1). Only header facts are kept: the patient's INS
(``recordTarget/patientRole/id`` whose root is an INS OID), the type code, title, effective time,
confidentiality, the author (with its RPPS when its id is an ``8`` + RPPS national id), custodian,
document id, set id and version, the replaced document (``relatedDocument[@typeCode='RPLC']``) and
the kind of body. A ``nonXMLBody`` must be a base64 PDF whose decoded bytes start with ``%PDF-``.

Missing INS is DMP-MDN-1 code 903, an INS id without its value (or of the wrong length) code 905.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from dmp_bridge.errors import DocumentError, HostileInput, MdnCode
from dmp_bridge.xml import local_name, parse_xml

HL7 = "urn:hl7-org:v3"
# DMP-CDA-1: INS OIDs — NIR, NIA, and their test variants.
INS_OIDS = frozenset(
    {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
)
_STRUCTURED_BODY = f"{{{HL7}}}structuredBody"
RPPS_ID_ROOT = "1.2.250.1.71.4.2.1"
_RPPS_ID = re.compile(r"8(\d{11})\Z")
_WHITESPACE = b" \t\r\n\f\v"


class BodyKind(StrEnum):
    STRUCTURED = "structured"
    PDF = "pdf"


@dataclass(frozen=True, slots=True)
class InstanceId:
    """An HL7 II: ``root`` OID (or UUID) and optional ``extension``."""

    root: str
    extension: str | None = None

    def __str__(self) -> str:
        return f"{self.root}^{self.extension}" if self.extension else self.root


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    code_system: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class CdaHeader:
    """DMP-CDA-1: what the DMP bridge needs from a CDA document."""

    patient_ins: str
    patient_ins_oid: str
    type: Code
    title: str
    effective_time: str
    confidentiality: Code
    author_id: InstanceId | None
    author_rpps: str | None
    custodian_id: InstanceId | None
    custodian_name: str | None
    document_id: InstanceId
    set_id: InstanceId
    version: int
    replaces: InstanceId | None
    body: BodyKind
    facility_type: Code | None = None
    practice_setting: Code | None = None


def parse_cda(data: bytes) -> CdaHeader:
    """The header of the CDA ``data``; ``DocumentError`` (or ``HostileInput``) if unusable."""
    root = parse_xml(data, what="the CDA document", prune=_in_structured_body)
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        raise DocumentError("not a CDA R2 document (no hl7v3 ClinicalDocument root)")
    ins_oid, ins = _patient_ins(root)
    authors = root.findall(_path("author", "assignedAuthor", "id"))
    return CdaHeader(
        patient_ins=ins,
        patient_ins_oid=ins_oid,
        type=_code(_required(root, "code")),
        title=(_text(root, "title") or "").strip(),
        effective_time=_required(root, "effectiveTime").get("value", ""),
        confidentiality=_code(_required(root, "confidentialityCode")),
        author_id=_first_id(authors),
        author_rpps=_rpps(authors),
        custodian_id=_first_id(root.findall(_CUSTODIAN + "/" + _q("id"))),
        custodian_name=_text(root, _CUSTODIAN + "/" + _q("name")),
        document_id=_instance_id(_required(root, "id")),
        set_id=_instance_id(_required(root, "setId")),
        version=_version(root),
        replaces=_replaced(root),
        body=_body_kind(root),
        facility_type=_optional_code(root, _FACILITY),
        practice_setting=_optional_code(root, _PRACTICE),
    )


def _in_structured_body(element: etree._Element) -> bool:
    """Sections of a structured body are not needed: dropped while parsing (memory)."""
    parent = element.getparent()
    return parent is not None and parent.tag == _STRUCTURED_BODY


def _q(name: str) -> str:
    return f"{{{HL7}}}{name}"


def _path(*names: str) -> str:
    return "/".join(_q(name) for name in names)


_CUSTODIAN = _path("custodian", "assignedCustodian", "representedCustodianOrganization")
_FACILITY = _path("componentOf", "encompassingEncounter", "location", "healthCareFacility", "code")
_PRACTICE = _path(
    "documentationOf",
    "serviceEvent",
    "performer",
    "assignedEntity",
    "representedOrganization",
    "standardIndustryClassCode",
)


def _required(root: etree._Element, name: str) -> etree._Element:
    found = root.find(_q(name))
    if found is None:
        raise DocumentError(f"the CDA header has no {name}")
    return found


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path if "{" in path else _q(path))
    return None if found is None else "".join(str(text) for text in found.itertext())


def _instance_id(element: etree._Element) -> InstanceId:
    root = element.get("root")
    if not root:
        raise DocumentError(f"an {local_name(element)} of the CDA header has no root")
    return InstanceId(root, element.get("extension") or None)


def _first_id(elements: list[etree._Element]) -> InstanceId | None:
    return next((_instance_id(e) for e in elements if e.get("root")), None)


def _code(element: etree._Element) -> Code:
    code, system = element.get("code"), element.get("codeSystem")
    if not code or not system:
        raise DocumentError(f"the CDA {local_name(element)} lacks its code or code system")
    return Code(code, system, element.get("displayName"))


def _optional_code(root: etree._Element, path: str) -> Code | None:
    found = root.find(path)
    if found is None or not found.get("code") or not found.get("codeSystem"):
        return None
    return _code(found)


def _patient_ins(root: etree._Element) -> tuple[str, str]:
    ids = root.findall(_path("recordTarget", "patientRole", "id"))
    ins_ids = [i for i in ids if i.get("root") in INS_OIDS]
    if not ins_ids:
        raise DocumentError("the CDA carries no INS for its patient", code=MdnCode.INS_MISSING)
    value = (ins_ids[0].get("extension") or "").strip()
    if len(value) != 15:  # MSS-INS-1: 13 characters + a 2-digit key
        raise DocumentError("the CDA patient INS is incomplete", code=MdnCode.INS_INCOMPLETE)
    return str(ins_ids[0].get("root")), value


def _rpps(author_ids: list[etree._Element]) -> str | None:
    for element in author_ids:
        match = _RPPS_ID.match(element.get("extension") or "")
        if element.get("root") == RPPS_ID_ROOT and match:
            return match.group(1)
    return None


def _version(root: etree._Element) -> int:
    element = root.find(_q("versionNumber"))
    value = "1" if element is None else element.get("value", "")
    if not value.isdigit() or int(value) < 1:
        raise DocumentError("the CDA versionNumber is not a positive integer")
    return int(value)


def _replaced(root: etree._Element) -> InstanceId | None:
    for related in root.findall(_q("relatedDocument")):
        parent_id = related.find(_path("parentDocument", "id"))
        if related.get("typeCode") == "RPLC" and parent_id is not None:
            return _instance_id(parent_id)
    return None


def _body_kind(root: etree._Element) -> BodyKind:
    if root.find(_path("component", "structuredBody")) is not None:
        return BodyKind.STRUCTURED
    text = root.find(_path("component", "nonXMLBody", "text"))
    if text is None:
        raise DocumentError("the CDA has neither a structuredBody nor a nonXMLBody")
    _check_pdf(text)
    return BodyKind.PDF


def _check_pdf(text: etree._Element) -> None:
    """DMP-CDA-1: a nonXMLBody is a base64 PDF; the decoded bytes must really be a PDF."""
    if text.get("representation") != "B64" or text.get("mediaType") != "application/pdf":
        raise DocumentError("the CDA nonXMLBody is not a base64 application/pdf")
    encoded = (text.text or "").encode("ascii", "replace").translate(None, _WHITESPACE)
    try:
        decoded = binascii.a2b_base64(encoded, strict_mode=True)
    except binascii.Error:
        raise HostileInput("the CDA nonXMLBody is not valid base64") from None
    if not decoded.startswith(b"%PDF-"):
        raise HostileInput("the CDA nonXMLBody claims to be a PDF but is not one")
