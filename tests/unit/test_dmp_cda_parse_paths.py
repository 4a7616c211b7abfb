"""The two ways a CDA is parsed (``dmp_bridge.xml.PRUNE_ABOVE``): whole below the threshold
(fast), pruned above it (low memory). Both give the same header (DMP-CDA-1) and refuse the same
hostile input (SEC-IN-1)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from dmp_bridge import xml
from dmp_bridge.cda import parse_cda
from dmp_bridge.errors import HostileInput
from tests.conftest import DATA

CDA_DIR = DATA / "cda"
SAMPLES = sorted(CDA_DIR.glob("*.xml"))
_PDF_TEXT = re.compile(rb'(<text mediaType="application/pdf" representation="B64">)[^<]*(</text>)')


@pytest.fixture(params=["whole", "pruned"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every input parsed whole (a threshold above any test input) or pruned (threshold 0)."""
    monkeypatch.setattr(xml, "PRUNE_ABOVE", 0 if request.param == "pruned" else 1 << 30)
    name: str = request.param
    return name


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_dmp_cda_1_both_paths_read_the_same_header(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample.read_bytes()
    monkeypatch.setattr(xml, "PRUNE_ABOVE", 0)
    pruned = parse_cda(data)
    monkeypatch.setattr(xml, "PRUNE_ABOVE", 1 << 30)
    assert parse_cda(data) == pruned


def test_typical_documents_take_the_whole_tree_path() -> None:
    """The threshold sits above typical CDA sizes (30-500 KB) and far below the 20 MB case."""
    assert max(p.stat().st_size for p in SAMPLES) < xml.PRUNE_ABOVE < 20 * 1024 * 1024


def test_sec_in_1_depth_cap_on_both_paths(path: str) -> None:
    """256 levels parse, 257 do not — libxml2's cap on one path, ours on the other."""
    deep = b"<a>" * 257 + b"</a>" * 257
    with pytest.raises(HostileInput):
        parse_cda(deep)
    xml.parse_xml(b"<a>" * 256 + b"</a>" * 256, prune=lambda element: False)


def test_sec_in_1_doctype_and_malformed_on_both_paths(path: str) -> None:
    sample = (CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()
    with pytest.raises(HostileInput, match="DOCTYPE"):
        parse_cda(sample.replace(b"<ClinicalDocument", b"<!DOCTYPE x>\n<ClinicalDocument", 1))
    with pytest.raises(HostileInput, match="well-formed"):
        parse_cda(sample[:5000])


def test_dmp_cda_1_fake_pdf_on_both_paths(path: str) -> None:
    sample = (CDA_DIR / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()
    fake = base64.b64encode(b"MZ\x90\x00 an executable")
    data = _PDF_TEXT.sub(lambda m: m.group(1) + fake + m.group(2), sample)
    with pytest.raises(HostileInput, match="not one"):
        parse_cda(data)
