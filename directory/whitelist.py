"""Parse the ANS whitelist ("liste blanche") XML into a ``Whitelist`` (MSS-TRUST-1).

The XML comes from outside: it is parsed with a hardened lxml parser (SEC-IN-1: no DTD, no entities,
no network, libxml2's default size and depth limits) and a document type declaration is refused
outright. The namespace ``https://listeblanche.mssante.fr/schema`` may be present or absent.

Every ``Domaine`` becomes one ``WhitelistEntry`` (domain lower-cased, certificate DN normalised by
``directory.dn.normalise_dn``); names are kept as written otherwise (the 2025-03-13 snapshot has a
``Nom`` with an ``@`` in it). A list without entries is refused: loading it would cut the operator
off from every other one.

*(chosen)* A document whose ``ListeDomaines`` is complete but whose closing root tag is missing (the
2025-03-13 snapshot ends that way) is accepted with a warning; any other truncation is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from lxml import etree

from directory.dn import normalise_dn
from directory.errors import WhitelistError
from directory.models import Whitelist, WhitelistEntry

log = logging.getLogger(__name__)

NAMESPACE = "https://listeblanche.mssante.fr/schema"
ROOT = "ListeBlancheMSSante"
MAX_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 100_000

_DOCTYPE_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")
_ROOT_START = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)ListeBlancheMSSante[\s>/]")
_ENDS_AFTER_LIST = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?ListeDomaines>\Z")


def parse_whitelist(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_entries: int = MAX_ENTRIES
) -> Whitelist:
    """The whitelist in ``data``, or ``WhitelistError`` saying why it is not usable."""
    if len(data) > max_bytes:
        raise WhitelistError(f"the whitelist is larger than {max_bytes} bytes")
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        raise WhitelistError("the whitelist carries a DOCTYPE or entity declaration (refused)")
    root = _parse_xml(data)
    if root.getroottree().docinfo.internalDTD is not None:  # a DOCTYPE the byte scan missed
        raise WhitelistError("the whitelist carries a DOCTYPE (refused)")
    _check_root(root)
    entries = tuple(_entries(_required_child(root, "ListeDomaines"), max_entries))
    if not entries:
        raise WhitelistError("the whitelist has no entries: refused, it would cut off every peer")
    return Whitelist(generated_at=_generated_at(root), entries=entries)


def _parser() -> etree.XMLParser:
    # SEC-IN-1
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _parse_xml(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        repaired = _close_root(data)
        if repaired is None:
            raise WhitelistError(f"the whitelist is not well-formed XML: {exc}") from None
        try:
            root = etree.fromstring(repaired, _parser())
        except etree.XMLSyntaxError:
            raise WhitelistError(f"the whitelist is not well-formed XML: {exc}") from None
        log.warning("whitelist lacks its closing root tag; accepted, its domain list is complete")
        return root


def _close_root(data: bytes) -> bytes | None:
    """``data`` with the root closed, when only the closing root tag is missing."""
    start = _ROOT_START.search(data, 0, 4096)
    if start is None or not _ENDS_AFTER_LIST.search(data.rstrip()[-200:]):
        return None
    return data + b"</" + start.group(1) + ROOT.encode() + b">"


def _local_name(element: etree._Element) -> str | None:
    """The local name of an element in the whitelist namespace (or none); None otherwise."""
    if not isinstance(element.tag, str):
        return None  # an entity reference or another non-element node
    name = etree.QName(element)
    return name.localname if name.namespace in (None, NAMESPACE) else None


def _check_root(root: etree._Element) -> None:
    if _local_name(root) != ROOT:
        raise WhitelistError(f"the root element is {root.tag!r}, not {ROOT}")


def _children(parent: etree._Element, name: str) -> Iterator[etree._Element]:
    return (child for child in parent if _local_name(child) == name)


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return next(_children(parent, name), None)


def _required_child(parent: etree._Element, name: str) -> etree._Element:
    found = _child(parent, name)
    if found is None:
        raise WhitelistError(f"the whitelist has no {name} element")
    return found


def _text(parent: etree._Element, name: str) -> str:
    child = _child(parent, name)
    return "" if child is None else _element_text(child)


def _element_text(element: etree._Element) -> str:
    return "".join(part for part in element.itertext() if isinstance(part, str)).strip()


def _generated_at(root: etree._Element) -> datetime | None:
    text = _text(root, "DateDeGeneration")
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise WhitelistError(f"DateDeGeneration is not a date: {text[:40]!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _entries(domains: etree._Element, max_entries: int) -> Iterator[WhitelistEntry]:
    for number, element in enumerate(_children(domains, "Domaine"), start=1):
        if number > max_entries:
            raise WhitelistError(f"the whitelist has more than {max_entries} entries")
        yield _entry(element, number)


def _fields(element: etree._Element) -> dict[str, str]:
    """The text of each child of a ``Domaine``, by local name (the first one wins)."""
    fields: dict[str, str] = {}
    for child in element:
        name = _local_name(child)
        if name is not None and name not in fields:
            fields[name] = _element_text(child)
    return fields


def _entry(element: etree._Element, number: int) -> WhitelistEntry:
    fields = _fields(element)
    domain = fields.get("Nom", "").lower()
    if not domain:
        raise WhitelistError(f"entry {number} has no Nom")
    try:
        certificate_dn = normalise_dn(fields.get("DNCertificatOperateur", ""))
    except ValueError as exc:
        raise WhitelistError(f"entry {number} ({domain}): bad certificate DN: {exc}") from None
    if not certificate_dn:
        raise WhitelistError(f"entry {number} ({domain}) has no DNCertificatOperateur")
    return WhitelistEntry(
        domain=domain,
        certificate_dn=certificate_dn,
        description=fields.get("Description", ""),
        responsible_contact=fields.get("ResponsableContact", ""),
        support_contact=fields.get("SupportContact", ""),
        updated=fields.get("DateMAJ", ""),
    )
