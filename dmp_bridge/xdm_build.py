"""Build an IHE XDM zip (``IHE_XDM.ZIP``) from CDA documents (DMP-XDM-1, DMP-XDM-2); pure.

One submission set ``IHE_XDM/SUBSET01`` holds the documents ``DOC0001.XML``…, described by an
ebRIM 3.0 ``METADATA.XML`` built from each CDA header: classCode/typeCode/confidentialityCode/
formatCode/practiceSetting/healthcareFacilityType/author classifications, patientId and uniqueId
identifiers, hash/size/URI/creationTime/sourcePatientInfo slots, a ``RegistryPackage`` submission
set with ``HasMember`` associations, and an RPLC association for a document that replaces another
(*(chosen)* its target is the replaced document's uniqueId: the sender does not know entry UUIDs).
All documents must be for one patient (MSS-MSG-4). ``README.TXT`` and ``INDEX.HTM`` sit at the root.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from lxml import etree

from dmp_bridge import ebrim
from dmp_bridge.cda import CdaHeader, Code, parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.errors import DocumentError

SUBSET = "SUBSET01"
DEFAULT_SOURCE_ID = "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:mss:xdm-builder").int)
FORMAT_SCHEME = "1.3.6.1.4.1.19376.1.2.3"
FORMAT_CODE = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
CLASS_SCHEME = "1.2.250.1.213.1.1.4.1"
_R = f"{{{ebrim.RIM}}}"


def build_xdm(
    cda_files: Sequence[bytes], *, source_id: str = DEFAULT_SOURCE_ID, now: datetime | None = None
) -> bytes:
    """DMP-XDM-1: an XDM zip holding ``cda_files``; ``DocumentError`` if one is not usable."""
    if not cda_files:
        raise DocumentError("an XDM archive needs at least one document")
    headers = [parse_cda(data) for data in cda_files]
    if len({h.patient_ins for h in headers}) != 1:
        raise DocumentError("the documents are for more than one patient")  # MSS-MSG-4
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d%H%M%S")
    metadata = _metadata(headers, cda_files, source_id, when)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.TXT", _readme(len(cda_files)))
        archive.writestr("INDEX.HTM", _index(headers))
        archive.writestr(f"IHE_XDM/{SUBSET}/METADATA.XML", metadata)
        for number, data in enumerate(cda_files, 1):
            archive.writestr(f"IHE_XDM/{SUBSET}/{document_name(number)}", data)
    return buffer.getvalue()


def document_name(number: int) -> str:
    return f"DOC{number:04d}.XML"


def patient_cx(header: CdaHeader) -> str:
    """The patient id as an HL7 CX: ``INS^^^&OID&ISO``."""
    return f"{header.patient_ins}^^^&{header.patient_ins_oid}&ISO"


def hl7_to_utc(value: str) -> str:
    """An HL7 TS (``YYYYMMDDHHMMSS±ZZZZ``) as the UTC ``YYYYMMDDHHMMSS`` XDS expects."""
    try:
        return (
            datetime.strptime(value[:19], "%Y%m%d%H%M%S%z").astimezone(UTC).strftime("%Y%m%d%H%M%S")
        )
    except ValueError:
        return "".join(ch for ch in value if ch.isdigit())[:14]


def _metadata(headers: list[CdaHeader], files: Sequence[bytes], source_id: str, when: str) -> bytes:
    request = etree.Element(
        f"{{{ebrim.LCM}}}SubmitObjectsRequest", nsmap={"lcm": ebrim.LCM, "rim": ebrim.RIM}
    )
    objects = etree.SubElement(request, f"{_R}RegistryObjectList")
    entry_ids = [f"urn:uuid:{uuid.uuid4()}" for _ in headers]
    for number, (header, data, entry_id) in enumerate(
        zip(headers, files, entry_ids, strict=True), 1
    ):
        objects.append(_document_entry(header, data, entry_id, document_name(number)))
    package_id = f"urn:uuid:{uuid.uuid4()}"
    objects.append(_package(package_id, headers[0], source_id, when))
    for entry_id, header in zip(entry_ids, headers, strict=True):
        _association(objects, ebrim.HAS_MEMBER, package_id, entry_id, status=True)
        if header.replaces is not None:
            _association(objects, ebrim.RPLC, entry_id, str(header.replaces), status=False)
    return bytes(etree.tostring(request, xml_declaration=True, encoding="UTF-8"))


def _document_entry(header: CdaHeader, data: bytes, entry_id: str, name: str) -> etree._Element:
    entry = etree.Element(f"{_R}ExtrinsicObject", id=entry_id, mimeType="text/xml")
    entry.set("objectType", ebrim.STABLE_DOCUMENT)
    cx = patient_cx(header)
    _slot(entry, "creationTime", hl7_to_utc(header.effective_time))
    _slot(entry, "hash", hashlib.sha1(data, usedforsecurity=False).hexdigest())
    _slot(entry, "languageCode", "fr-FR")
    _slot(entry, "size", str(len(data)))
    _slot(entry, "sourcePatientId", cx)
    _slot(entry, "sourcePatientInfo", f"PID-3|{cx}")
    _slot(entry, "URI", name)
    _name(entry, header.title)
    if header.author_rpps:
        _author(entry, entry_id, header.author_rpps)
    class_code = classify(header.type.code).class_code
    if class_code:
        _code(entry, entry_id, ebrim.CLASS_CODE, Code(class_code, CLASS_SCHEME))
    _code(entry, entry_id, ebrim.CONFIDENTIALITY_CODE, header.confidentiality)
    _code(entry, entry_id, ebrim.FORMAT_CODE, Code(FORMAT_CODE, FORMAT_SCHEME))
    for scheme, code in (
        (ebrim.FACILITY_TYPE_CODE, header.facility_type),
        (ebrim.PRACTICE_SETTING_CODE, header.practice_setting),
    ):
        if code is not None:
            _code(entry, entry_id, scheme, code)
    _code(entry, entry_id, ebrim.TYPE_CODE, header.type)
    _identifier(entry, entry_id, ebrim.DOC_PATIENT_ID, cx, "XDSDocumentEntry.patientId")
    _identifier(entry, entry_id, ebrim.DOC_UNIQUE_ID, str(header.document_id), "uniqueId")
    return entry


def _package(package_id: str, header: CdaHeader, source_id: str, when: str) -> etree._Element:
    package = etree.Element(f"{_R}RegistryPackage", id=package_id)
    _slot(package, "submissionTime", when)
    _name(package, "Envoi MSSanté")
    node = etree.SubElement(package, f"{_R}Classification", id=f"urn:uuid:{uuid.uuid4()}")
    node.set("classifiedObject", package_id)
    node.set("classificationNode", ebrim.SUBMISSION_SET_NODE)
    _code(package, package_id, ebrim.SS_CONTENT_TYPE, header.type)
    unique = "2.25." + str(uuid.uuid4().int)
    _identifier(package, package_id, ebrim.SS_UNIQUE_ID, unique, "uniqueId")
    _identifier(package, package_id, ebrim.SS_SOURCE_ID, source_id, "sourceId")
    _identifier(package, package_id, ebrim.SS_PATIENT_ID, patient_cx(header), "patientId")
    return package


def _association(
    parent: etree._Element, kind: str, source: str, target: str, *, status: bool
) -> None:
    association = etree.SubElement(parent, f"{_R}Association", id=f"urn:uuid:{uuid.uuid4()}")
    association.set("associationType", kind)
    association.set("sourceObject", source)
    association.set("targetObject", target)
    if status:
        _slot(association, "SubmissionSetStatus", "Original")


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, f"{_R}Slot", name=name)
    value_list = etree.SubElement(slot, f"{_R}ValueList")
    for value in values:
        etree.SubElement(value_list, f"{_R}Value").text = value


def _name(parent: etree._Element, text: str) -> None:
    name = etree.SubElement(parent, f"{_R}Name")
    etree.SubElement(name, f"{_R}LocalizedString", value=text)


def _code(parent: etree._Element, owner: str, scheme: str, code: Code) -> None:
    node = etree.SubElement(parent, f"{_R}Classification", id=f"urn:uuid:{uuid.uuid4()}")
    node.set("classificationScheme", scheme)
    node.set("classifiedObject", owner)
    node.set("nodeRepresentation", code.code)
    _slot(node, "codingScheme", code.code_system)
    _name(node, code.display_name or code.code)


def _author(parent: etree._Element, owner: str, rpps: str) -> None:
    node = etree.SubElement(parent, f"{_R}Classification", id=f"urn:uuid:{uuid.uuid4()}")
    node.set("classificationScheme", ebrim.AUTHOR)
    node.set("classifiedObject", owner)
    node.set("nodeRepresentation", "")
    _slot(node, "authorPerson", f"8{rpps}^^^^^^^^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^^")


def _identifier(parent: etree._Element, owner: str, scheme: str, value: str, label: str) -> None:
    identifier = etree.SubElement(parent, f"{_R}ExternalIdentifier", id=f"urn:uuid:{uuid.uuid4()}")
    identifier.set("identificationScheme", scheme)
    identifier.set("registryObject", owner)
    identifier.set("value", value)
    _name(identifier, label)


def _readme(count: int) -> bytes:
    return (
        "IHE XDM archive written by mss (MSSanté operator).\r\n"
        f"Contents: IHE_XDM/{SUBSET}/METADATA.XML and {count} CDA R2 document(s).\r\n"
    ).encode()


def _index(headers: list[CdaHeader]) -> bytes:
    html = etree.Element("html")
    body = etree.SubElement(html, "body")
    etree.SubElement(body, "h1").text = "IHE XDM"
    listing = etree.SubElement(body, "ul")
    for number, header in enumerate(headers, 1):
        item = etree.SubElement(listing, "li")
        link = etree.SubElement(item, "a", href=f"IHE_XDM/{SUBSET}/{document_name(number)}")
        link.text = header.title or document_name(number)
    return bytes(etree.tostring(html, method="html", encoding="UTF-8"))
