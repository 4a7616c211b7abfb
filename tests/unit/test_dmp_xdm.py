"""DMP-XDM-1/2: the XDM builder and reader, round trip on every ANS sample."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

import pytest

from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.errors import DocumentError
from dmp_bridge.xdm import ins_of, read_xdm
from dmp_bridge.xdm_build import build_xdm, hl7_to_utc
from tests.conftest import DATA

CDA_DIR = DATA / "cda"
SAMPLES = sorted(p.name for p in CDA_DIR.glob("*.xml"))
METADATA = "ihe_xdm/subset01/metadata.xml"


def _entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("name", SAMPLES)
def test_dmp_xdm_1_round_trip_of_sample(name: str) -> None:
    """DMP-XDM-1/2: build → read gives back the document and the metadata of its header."""
    data = (CDA_DIR / name).read_bytes()
    header = parse_cda(data)
    archive = read_xdm(build_xdm([data]))
    [subset] = archive.submission_sets
    [doc] = subset.documents
    assert doc.content == data
    assert doc.size == len(data)
    assert doc.patient_ins == header.patient_ins
    assert subset.patient_id == doc.patient_id
    assert doc.type_code == header.type.code
    assert doc.class_code == classify(header.type.code).class_code
    assert doc.confidentiality == (header.confidentiality.code,)
    assert doc.unique_id == str(header.document_id)
    assert doc.creation_time == hl7_to_utc(header.effective_time)
    assert subset.unique_id is not None
    assert subset.unique_id.startswith("2.25.")
    expected_rplc = [str(header.replaces)] if header.replaces else []
    assert [target for _, target in subset.replacements] == expected_rplc


def test_dmp_xdm_1_archive_layout() -> None:
    names = set(_entries(build_xdm([(CDA_DIR / SAMPLES[0]).read_bytes()])))
    assert names == {
        "README.TXT",
        "INDEX.HTM",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "IHE_XDM/SUBSET01/DOC0001.XML",
    }


def test_several_documents_of_one_patient() -> None:
    same_patient = [(CDA_DIR / n).read_bytes() for n in ("VSM_1.4_2022.01.xml", "VAC_2023.01.xml")]
    archive = read_xdm(build_xdm(same_patient))
    assert [d.content for d in archive.documents] == same_patient
    assert {d.patient_ins for d in archive.documents} == {"279035121518989"}


def test_mss_msg_4_builder_refuses_two_patients() -> None:
    two = [(CDA_DIR / n).read_bytes() for n in ("VSM_1.4_2022.01.xml", "OBP-SCM_2024.01.xml")]
    with pytest.raises(DocumentError, match="more than one patient"):
        build_xdm(two)


def test_dmp_xdm_1_names_are_case_insensitive_and_other_subsets_read() -> None:
    """DMP-XDM-1: lower-case names, an ``SS000001`` folder and unknown files are all fine."""
    entries = _entries(build_xdm([(CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()]))
    renamed = {
        name.lower().replace("subset01", "ss000001"): content for name, content in entries.items()
    }
    renamed["notes/unknown.bin"] = b"ignored"
    archive = read_xdm(_zip(renamed))
    assert [s.folder for s in archive.submission_sets] == ["ss000001"]
    assert len(archive.documents) == 1


def test_dmp_xdm_1_two_submission_sets() -> None:
    first = _entries(build_xdm([(CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()]))
    second = _entries(build_xdm([(CDA_DIR / "VAC_2023.01.xml").read_bytes()]))
    merged = dict(first)
    merged.update({n.replace("SUBSET01", "SUBSET02"): c for n, c in second.items() if "IHE" in n})
    archive = read_xdm(_zip(merged))
    assert [s.folder for s in archive.submission_sets] == ["subset01", "subset02"]
    assert [d.type_code for d in archive.documents] == ["SYNTH", "11369-6"]


def test_dmp_xdm_2_metadata_without_namespace_declarations_is_read() -> None:
    """DMP-XDM-2: real files lack ``xmlns:rim``/``xmlns:lcm``: parse tolerantly."""
    entries = _entries(build_xdm([(CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()]))
    meta = entries["IHE_XDM/SUBSET01/METADATA.XML"]
    stripped = re.sub(rb'\s+xmlns:(?:rim|lcm)="[^"]*"', b"", meta)
    assert b"xmlns:" not in stripped
    entries["IHE_XDM/SUBSET01/METADATA.XML"] = stripped
    [doc] = read_xdm(_zip(entries)).documents
    assert doc.type_code == "SYNTH"


def test_dmp_xdm_2_metadata_without_any_namespace_is_read() -> None:
    entries = _entries(build_xdm([(CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()]))
    meta = entries["IHE_XDM/SUBSET01/METADATA.XML"]
    plain = re.sub(rb'\s+xmlns:\w+="[^"]*"', b"", re.sub(rb"<(/?)\w+:", rb"<\1", meta))
    entries["IHE_XDM/SUBSET01/METADATA.XML"] = plain
    [doc] = read_xdm(_zip(entries)).documents
    assert doc.unique_id == "1.2.250.1.213.1.1.1.13.2022.1.1"


def test_zip_without_xdm_metadata_is_refused() -> None:
    with pytest.raises(DocumentError, match="not an IHE XDM"):
        read_xdm(_zip({"README.TXT": b"hello"}))


def test_missing_document_file_is_refused() -> None:
    entries = _entries(build_xdm([(CDA_DIR / "VSM_1.4_2022.01.xml").read_bytes()]))
    del entries["IHE_XDM/SUBSET01/DOC0001.XML"]
    with pytest.raises(DocumentError, match="missing"):
        read_xdm(_zip(entries))


def test_ins_of_patient_id() -> None:
    assert ins_of("279035121518989^^^&1.2.250.1.213.1.4.10&ISO") == "279035121518989"
    assert ins_of("1234567890121^^^&1.2.3.4.567.8.9.10&ISO") is None
    assert ins_of("garbage") is None


def test_hl7_time_to_utc() -> None:
    assert hl7_to_utc("20210401171000+0100") == "20210401161000"
    assert hl7_to_utc("20210401") == "20210401"


def test_submission_time_is_utc() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    meta = _entries(build_xdm([(CDA_DIR / "VAC_2023.01.xml").read_bytes()], now=now))
    assert b"20260102030405" in meta["IHE_XDM/SUBSET01/METADATA.XML"]
