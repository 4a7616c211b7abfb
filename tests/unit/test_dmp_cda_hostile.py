"""SEC-IN-1 and DMP-CDA-1 refusals: entities, DOCTYPE, fake PDF, missing or incomplete INS."""

from __future__ import annotations

import base64
import re

import pytest

from dmp_bridge.cda import BodyKind, parse_cda
from dmp_bridge.errors import DocumentError, HostileInput, MdnCode
from tests.conftest import DATA

CDA_DIR = DATA / "cda"
_PDF_TEXT = re.compile(rb'(<text mediaType="application/pdf" representation="B64">)[^<]*(</text>)')


def _sample(name: str = "VSM_1.4_2022.01.xml") -> bytes:
    return (CDA_DIR / name).read_bytes()


def _with_pdf_text(encoded: bytes) -> bytes:
    sample = _sample("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    return _PDF_TEXT.sub(lambda m: m.group(1) + encoded + m.group(2), sample)


def _with_doctype(data: bytes, doctype: bytes) -> bytes:
    return data.replace(b"<ClinicalDocument", doctype + b"\n<ClinicalDocument", 1)


def test_sec_in_1_xxe_in_cda_is_refused() -> None:
    """SEC-IN-1: an external entity (XXE) is never resolved: the document is refused."""
    doctype = b'<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    data = _with_doctype(_sample(), doctype).replace(b"<title>", b"<title>&xxe;", 1)
    with pytest.raises(HostileInput, match="DOCTYPE"):
        parse_cda(data)


def test_sec_in_1_billion_laughs_in_cda_is_refused() -> None:
    """SEC-IN-1: entity expansion (billion laughs) is refused before any expansion."""
    entities = b"".join(
        b'<!ENTITY l%d "&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;&l%d;">'
        % ((i,) + (i - 1,) * 10)
        for i in range(1, 10)
    )
    doctype = b'<!DOCTYPE ClinicalDocument [<!ENTITY l0 "lol">' + entities + b"]>"
    data = _with_doctype(_sample(), doctype).replace(b"<title>", b"<title>&l9;", 1)
    with pytest.raises(HostileInput):
        parse_cda(data)


def test_sec_in_1_plain_doctype_in_cda_is_refused() -> None:
    with pytest.raises(HostileInput, match="DOCTYPE"):
        parse_cda(_with_doctype(_sample(), b"<!DOCTYPE ClinicalDocument>"))


def test_sec_in_1_utf16_doctype_is_refused_after_parsing() -> None:
    """The byte scan misses UTF-16; the parsed tree's DTD check does not."""
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'
    with pytest.raises(HostileInput, match="DOCTYPE"):
        parse_cda(text.encode("utf-16"))


def test_sec_in_1_deep_nesting_is_refused() -> None:
    deep = b"<a>" * 300 + b"</a>" * 300
    with pytest.raises(HostileInput):
        parse_cda(deep)


def test_not_a_cda_is_refused() -> None:
    with pytest.raises(DocumentError, match="not a CDA"):
        parse_cda(b"<html><body/></html>")


def test_malformed_xml_is_refused() -> None:
    with pytest.raises(HostileInput, match="well-formed"):
        parse_cda(_sample()[:5000])


def test_dmp_cda_1_base64_pdf_that_is_not_a_pdf_is_refused() -> None:
    """DMP-CDA-1: a nonXMLBody claiming application/pdf must decode to ``%PDF-``."""
    fake = base64.b64encode(b"MZ\x90\x00 this is an executable, not a PDF")
    data = _with_pdf_text(fake)
    with pytest.raises(HostileInput, match="not one"):
        parse_cda(data)


def test_dmp_cda_1_invalid_base64_is_refused() -> None:
    data = _with_pdf_text(b"@@@not base64@@@")
    with pytest.raises(HostileInput, match="base64"):
        parse_cda(data)


def test_dmp_mdn_1_missing_ins_is_code_903() -> None:
    """DMP-MDN-1: a CDA whose patient has no INS id is refused with code 903."""
    data = _sample().replace(b'root="1.2.250.1.213.1.4.10"', b'root="1.2.3.4"')
    with pytest.raises(DocumentError) as caught:
        parse_cda(data)
    assert caught.value.code is MdnCode.INS_MISSING
    assert caught.value.mdn_disposition == "processed/Error: 903^INS absent"


def test_dmp_mdn_1_incomplete_ins_is_code_905() -> None:
    data = _sample().replace(b'extension="279035121518989"', b'extension="2790351"')
    with pytest.raises(DocumentError) as caught:
        parse_cda(data)
    assert caught.value.code is MdnCode.INS_INCOMPLETE


def test_pdf_text_node_over_libxml2_default_is_parsed() -> None:
    """``huge_tree=True`` on the CDA parse: a PDF over ~7.5 MB (a text node over libxml2's 10 MB
    default) is a CDA like any other (issue 5: a 20 MB CDA is parsed)."""
    fake = base64.b64encode(b"%PDF-1.5\n" + bytes(8 * 1024 * 1024))
    assert parse_cda(_with_pdf_text(fake)).body is BodyKind.PDF


def test_sec_in_1_input_size_still_caps_any_text_node() -> None:
    """SEC-IN-1: our own input cap bounds every text node, ``huge_tree`` or not."""
    fake = base64.b64encode(b"%PDF-1.5\n" + bytes(49 * 1024 * 1024))
    with pytest.raises(HostileInput, match="larger than"):
        parse_cda(_with_pdf_text(fake))
