"""Read an IHE XDM archive (``IHE_XDM.ZIP``) into an ``XdmArchive`` (DMP-XDM-1, DMP-XDM-2); pure.

The zip is read in memory through ``zipsafe`` (SEC-IN-2). Every ``IHE_XDM/<subset>/METADATA.XML``
(names matched case-insensitively, unknown files ignored) is one submission set: an ebRIM 3.0
``SubmitObjectsRequest`` parsed with the hardened parser (SEC-IN-1), tolerating undeclared ``rim:``
or ``lcm:`` prefixes. Each ``ExtrinsicObject`` is a document entry; its file is found through its
``URI`` slot (relative to the subset folder, never allowed to leave it) and its SHA-1 ``hash`` and
``size`` slots must match the bytes. Elements are matched by local name whatever their namespace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from dmp_bridge import ebrim
from dmp_bridge.cda import INS_OIDS
from dmp_bridge.errors import DocumentError, HostileInput
from dmp_bridge.xml import local_name, parse_xml
from dmp_bridge.zipsafe import ZipLimits, read_zip

ROOT_FOLDER = "ihe_xdm"
METADATA = "metadata.xml"


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """One document entry of a submission set, with its verified content."""

    entry_id: str
    unique_id: str
    patient_id: str
    mime_type: str
    uri: str
    hash: str  # SHA-1 hex of ``content``, computed (and equal to the metadata's hash slot)
    size: int
    creation_time: str | None
    class_code: str | None
    type_code: str | None
    confidentiality: tuple[str, ...]
    format_code: str | None
    content: bytes

    @property
    def patient_ins(self) -> str | None:
        """The INS of ``patient_id`` (``INS^^^&OID&ISO``) when its OID is an INS OID."""
        return ins_of(self.patient_id)


@dataclass(frozen=True, slots=True)
class SubmissionSet:
    folder: str
    unique_id: str | None
    source_id: str | None
    patient_id: str | None
    documents: tuple[XdmDocument, ...]
    replacements: tuple[tuple[str, str], ...]  # (new entry id, replaced target) from RPLC


@dataclass(frozen=True, slots=True)
class XdmArchive:
    submission_sets: tuple[SubmissionSet, ...]

    @property
    def documents(self) -> tuple[XdmDocument, ...]:
        return tuple(doc for subset in self.submission_sets for doc in subset.documents)


def ins_of(patient_id: str) -> str | None:
    """The INS in an HL7 CX ``value^^^&OID&ISO`` whose OID is an INS OID; else None."""
    value, _, rest = patient_id.partition("^^^")
    authority = rest.split("&")
    if len(authority) >= 2 and authority[1] in INS_OIDS and value:
        return value
    return None


def read_xdm(data: bytes, limits: ZipLimits | None = None) -> XdmArchive:
    """DMP-XDM-1: the submission sets of the XDM zip ``data``; ``DocumentError`` if unusable."""
    files = read_zip(data, limits)
    folders = sorted(_subset_folders(files))
    if not folders:
        raise DocumentError("the zip is not an IHE XDM archive (no IHE_XDM/<subset>/METADATA.XML)")
    return XdmArchive(tuple(_submission_set(folder, files) for folder in folders))


def _subset_folders(files: dict[str, bytes]) -> Iterator[str]:
    for name in files:
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == ROOT_FOLDER and parts[2] == METADATA:
            yield parts[1]


def _submission_set(folder: str, files: dict[str, bytes]) -> SubmissionSet:
    root = parse_xml(
        files[f"{ROOT_FOLDER}/{folder}/{METADATA}"],
        what="METADATA.XML",
        declare_prefixes=ebrim.KNOWN_PREFIXES,
    )
    if local_name(root) != "SubmitObjectsRequest":
        raise DocumentError("METADATA.XML is not an ebRIM SubmitObjectsRequest")
    package = next(
        (p for p in _all(root, "RegistryPackage") if _identifier(p, ebrim.SS_UNIQUE_ID)), None
    )
    entries = list(_all(root, "ExtrinsicObject"))
    if not entries:
        raise DocumentError("METADATA.XML lists no document")
    return SubmissionSet(
        folder=folder,
        unique_id=_identifier(package, ebrim.SS_UNIQUE_ID),
        source_id=_identifier(package, ebrim.SS_SOURCE_ID),
        patient_id=_identifier(package, ebrim.SS_PATIENT_ID),
        documents=tuple(_document(entry, folder, files) for entry in entries),
        replacements=tuple(_replacements(root)),
    )


def _document(entry: etree._Element, folder: str, files: dict[str, bytes]) -> XdmDocument:
    uri = _single_slot(entry, "URI")
    if uri is None:
        raise DocumentError("a document entry has no URI slot")
    content = files.get(f"{ROOT_FOLDER}/{folder}/{_safe_uri(uri)}")
    if content is None:
        raise DocumentError("a document named by METADATA.XML is missing from the zip")
    digest, size = _single_slot(entry, "hash"), _single_slot(entry, "size")
    sha1 = _check_integrity(content, digest, size)
    return XdmDocument(
        entry_id=entry.get("id", ""),
        unique_id=_required_identifier(entry, ebrim.DOC_UNIQUE_ID, "uniqueId"),
        patient_id=_required_identifier(entry, ebrim.DOC_PATIENT_ID, "patientId"),
        mime_type=entry.get("mimeType", ""),
        uri=uri,
        hash=sha1,
        size=len(content),
        creation_time=_single_slot(entry, "creationTime"),
        class_code=_classification(entry, ebrim.CLASS_CODE),
        type_code=_classification(entry, ebrim.TYPE_CODE),
        confidentiality=tuple(_classifications(entry, ebrim.CONFIDENTIALITY_CODE)),
        format_code=_classification(entry, ebrim.FORMAT_CODE),
        content=content,
    )


def _safe_uri(uri: str) -> str:
    """DMP-XDM-1: paths are never trusted — the URI must stay inside the subset folder."""
    parts = uri.strip().split("/")
    if "\\" in uri or any(part in ("", ".", "..") for part in parts) or ":" in uri:
        raise HostileInput("a URI slot of METADATA.XML points outside its folder")
    return "/".join(parts).lower()


def _check_integrity(content: bytes, digest: str | None, size: str | None) -> str:
    """DMP-XDM-2: the SHA-1 ``hash`` and ``size`` slots must match the document bytes; the SHA-1
    (hex, computed here from the bytes: callers need not hash them again)."""
    if digest is None or size is None:
        raise DocumentError("a document entry lacks its hash or size slot")
    sha1 = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    if sha1 != digest.strip().lower():
        raise DocumentError("a document's SHA-1 does not match its hash slot")
    if not size.strip().isdigit() or int(size) != len(content):
        raise DocumentError("a document's size does not match its size slot")
    return sha1


def _all(root: etree._Element, name: str) -> Iterator[etree._Element]:
    """``root`` and its descendants named ``name`` in any namespace or none (matched by lxml)."""
    return root.iter(f"{{*}}{name}")


def _children(parent: etree._Element, name: str) -> Iterator[etree._Element]:
    return parent.iterchildren(f"{{*}}{name}")


def _slot_values(element: etree._Element, name: str) -> list[str]:
    for slot in _children(element, "Slot"):
        if slot.get("name") == name:
            return [(value.text or "").strip() for value in _all(slot, "Value")]
    return []


def _single_slot(element: etree._Element, name: str) -> str | None:
    values = _slot_values(element, name)
    return values[0] if values else None


def _identifier(element: etree._Element | None, scheme: str) -> str | None:
    if element is None:
        return None
    for identifier in _children(element, "ExternalIdentifier"):
        if identifier.get("identificationScheme") == scheme:
            return identifier.get("value")
    return None


def _required_identifier(element: etree._Element, scheme: str, label: str) -> str:
    value = _identifier(element, scheme)
    if not value:
        raise DocumentError(f"a document entry has no {label}")
    return value


def _classifications(element: etree._Element, scheme: str) -> Iterator[str]:
    for classification in _children(element, "Classification"):
        if classification.get("classificationScheme") == scheme:
            yield classification.get("nodeRepresentation", "")


def _classification(element: etree._Element, scheme: str) -> str | None:
    return next(_classifications(element, scheme), None)


def _replacements(root: etree._Element) -> Iterator[tuple[str, str]]:
    for association in _all(root, "Association"):
        if association.get("associationType") == ebrim.RPLC:
            yield association.get("sourceObject", ""), association.get("targetObject", "")
