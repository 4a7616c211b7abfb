"""The one hardened XML parser of the DMP bridge (SEC-IN-1); CDA and METADATA.XML both use it.

No DTD is loaded, no entity is resolved, nothing is fetched from the network, processing
instructions (``xml-stylesheet``) and comments are dropped, and libxml2's size limits stay on for
METADATA.XML (``huge_tree=False``: nesting capped at 256 levels, one text node at 10 MB).
A document type declaration is refused outright, before and after parsing (the byte scan misses
UTF-16 input; the parsed tree does not). The input size is capped.

The pruned parse (CDA documents) runs with ``huge_tree=True`` *(chosen)*: a CDA whose body is one
base64 PDF has a text node over libxml2's 10 MB default as soon as the PDF passes ~7.5 MB, and the
issue wants a 20 MB CDA parsed. Our own caps stay: the input size (``MAX_XML_BYTES``, which bounds
any text node) and the nesting depth (``MAX_DEPTH``, counted on ``start`` events). Measured by
``bench/dmp_bridge.py``: a 20 MB PDF CDA parses with a peak RSS growth of about 80 MB, input
included. Pruning costs a Python call per element, so *(chosen)* an input of at most
``PRUNE_ABOVE`` bytes (typical CDA documents are 30-500 KB) is parsed whole by the hardened parser
instead: libxml2 parses it without the GIL, in about half the time, with libxml2's own caps
(``huge_tree=False``: depth 256, a 10 MB text node is out of reach below ``PRUNE_ABOVE``); its
tree costs a few times its size, a few MB at most.

``declare_prefixes`` lets a caller parse files that use prefixes they never declare (real
METADATA.XML files do, DMP-XDM-2): the missing ``xmlns:`` declarations are added to the root element
and the now well-formed text is parsed with the same hardened parser; nothing else is repaired.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping

from lxml import etree

from dmp_bridge.errors import HostileInput

MAX_XML_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 256  # libxml2's own default without huge_tree
PRUNE_ABOVE = 2 * 1024 * 1024  # bytes: smaller inputs are parsed whole (faster)
Prune = Callable[[etree._Element], bool]

_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY|doctype|entity)")  # one pass over the input
_PREFIX_USE = re.compile(rb"</?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*=")
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w.:-]*)(?=[\s/>])")


def hardened_parser() -> etree.XMLParser:
    """A new lxml parser with every SEC-IN-1 protection on (parsers are not thread-safe).

    ``directory.whitelist`` holds the same settings: the two packages may not import each other
    (ARCHITECTURE.md), so each keeps its own few lines rather than a shared module.
    """
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


def parse_xml(
    data: bytes,
    *,
    what: str = "XML",
    max_bytes: int = MAX_XML_BYTES,
    declare_prefixes: Mapping[str, str] | None = None,
    prune: Prune | None = None,
) -> etree._Element:
    """The root element of ``data``; ``HostileInput`` saying why not.

    ``prune(element)``, called as each element ends, may answer True to drop that element's
    content while parsing (a CDA body need not be kept whole: peak memory stays low); inputs of
    at most ``PRUNE_ABOVE`` bytes are parsed whole all the same (the caller may not rely on
    pruning, only on the tree it needs being there).
    """
    if len(data) > max_bytes:
        raise HostileInput(f"{what} is larger than {max_bytes} bytes")
    if _DECLARATION.search(data) is not None:
        raise HostileInput(f"{what} carries a DOCTYPE or entity declaration (refused)")  # SEC-IN-1
    if prune is not None and len(data) > PRUNE_ABOVE:
        root = _parse_pruned(data, what, prune)
    else:
        root = _parse(data, what, declare_prefixes)
    if root.getroottree().docinfo.internalDTD is not None:
        raise HostileInput(f"{what} carries a DOCTYPE (refused)")  # SEC-IN-1
    return root


def local_name(element: etree._Element) -> str | None:
    """The local name of an element, whatever its namespace; None for non-element nodes."""
    tag = element.tag
    if not isinstance(tag, str):
        return None
    return tag.rpartition("}")[2]


def _parse(data: bytes, what: str, declare: Mapping[str, str] | None) -> etree._Element:
    try:
        return etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        repaired = _declare_missing_prefixes(data, declare) if declare else None
        if repaired is None:
            raise HostileInput(f"{what} is not well-formed XML: {_short(exc)}") from None
    try:
        return etree.fromstring(repaired, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise HostileInput(f"{what} is not well-formed XML: {_short(exc)}") from None


def _parse_pruned(data: bytes, what: str, prune: Prune) -> etree._Element:
    context = etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        resolve_entities=False,  # SEC-IN-1, as in hardened_parser()
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,  # big PDF text nodes; our own size and depth caps below and above
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    depth = 0
    try:
        for event, element in context:
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:  # SEC-IN-1
                    raise HostileInput(f"{what} nests deeper than {MAX_DEPTH} levels")
                continue
            depth -= 1
            if prune(element):
                _drop(element)
    except etree.XMLSyntaxError as exc:
        raise HostileInput(f"{what} is not well-formed XML: {_short(exc)}") from None
    root: etree._Element = context.root
    return root


def _drop(element: etree._Element) -> None:
    """Empty ``element`` and detach its already-dropped previous siblings."""
    element.clear()
    parent = element.getparent()
    while parent is not None and element.getprevious() is not None:
        del parent[0]


def _short(exc: etree.XMLSyntaxError) -> str:
    """The parser's message without any quoted content beyond its position."""
    return str(exc.msg)[:200] if exc.msg else "syntax error"


def _declare_missing_prefixes(data: bytes, known: Mapping[str, str]) -> bytes | None:
    """``data`` with ``xmlns:p`` added on the root for every used but undeclared prefix ``p``."""
    used = {(m.group(1) or m.group(2)).decode("ascii") for m in _PREFIX_USE.finditer(data)}
    missing = sorted(p for p in used - {"xml", "xmlns"} if f"xmlns:{p}=".encode() not in data)
    root = _ROOT_TAG.search(data)
    if not missing or root is None:
        return None
    decls = b"".join(
        f' xmlns:{p}="{known.get(p, "urn:mss:undeclared:" + p)}"'.encode() for p in missing
    )
    return data[: root.end()] + decls + data[root.end() :]
