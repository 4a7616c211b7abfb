"""``mss xdm build|inspect`` and ``mss dmp list|show|traces``, run as a user would (issue 5, 6)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from config import load_settings
from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.xdm_build import build_xdm
from mss.app import open_operator
from tests.e2e.test_cli import mss
from tests.protocol.dmp_mail import CDA, xdm_message

INS = "279035121518989"
KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "mss.toml"
    path.write_text(f'data_dir = "data"\n[storage]\nactive_key = "k"\nkeys = {{ k = "{KEY}" }}\n')
    return path


def _cda(prefix: str) -> Path:
    return next(p for p in sorted(CDA.glob("*.xml")) if p.name.startswith(prefix))


def test_xdm_build_then_inspect(tmp_path: Path) -> None:
    """DMP-XDM-1 builder and reader through the CLI; DMP-CLASS-2 rubric in the listing."""
    out = tmp_path / "IHE_XDM.ZIP"
    built = mss("xdm", "build", str(_cda("VAC")), str(_cda("eP-MED")), "-o", str(out))
    assert built.returncode == 0, built.stderr
    assert out.exists()
    listing = mss("xdm", "inspect", str(out), "--json")
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [row["type_code"] for row in rows] == ["11369-6", "57833-6"]
    assert {row["ins"] for row in rows} == {INS}
    assert [row["rubric"] for row in rows] == ["Prévention et dépistage", "Ordonnances et soins"]
    assert all(row["cda"] == "ok" for row in rows)
    text = mss("xdm", "inspect", str(out))
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].split("\t")[:3] == ["subset", "ins", "type_code"]


def test_xdm_build_refuses_two_patients_in_one_line(tmp_path: Path) -> None:
    """MSS-MSG-4: one archive, one patient."""
    result = mss("xdm", "build", str(_cda("VAC")), str(_cda("OBP")), "-o", str(tmp_path / "x"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_xdm_inspect_refuses_a_hostile_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = mss("xdm", "inspect", str(bad))
    assert result.returncode == 1
    assert "mss: error:" in result.stderr
    assert "Traceback" not in result.stderr


async def _file(settings_file: Path, cda: bytes) -> None:
    message = xdm_message("dr@h.mssante.fr", f"{INS}@patient.mssante.fr", [build_xdm([cda])])
    async with open_operator(load_settings(settings_file)) as operator:
        assert operator.dmp is not None
        outcome = await operator.dmp.filer.file_message(message, INS)
        assert outcome is not None
        assert outcome.result == "processed"


def test_dmp_list_show_traces(settings_file: Path) -> None:
    """INS, type code, class, rubric, uniqueId, status, confidentiality per document; the
    filing is traced (DMP-AUD-1)."""
    cda = _cda("BIO").read_bytes()
    header = parse_cda(cda)
    asyncio.run(_file(settings_file, cda))
    listed = mss("dmp", "list", INS, "--json", config=settings_file)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["ins"] == INS
    assert row["type_code"] == header.type.code
    assert row["class_code"] == classify(header.type.code).class_code
    assert row["rubric"] == "Résultats de biologie"
    assert row["unique_id"] == str(header.document_id)
    assert row["status"] == "approved"
    assert row["confidentiality"] == ["N"]
    shown = mss("dmp", "show", row["entry_id"], "--json", config=settings_file)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["sha1"]
    assert detail["size"] == len(cda)
    text = mss("dmp", "show", row["entry_id"], config=settings_file)
    assert "rubric" in text.stdout
    traces = mss("dmp", "traces", INS, "--json", config=settings_file)
    assert traces.returncode == 0, traces.stderr
    assert any(t["entry_id"] == row["entry_id"] for t in json.loads(traces.stdout))
    plain = mss("dmp", "list", INS, config=settings_file)
    assert str(header.document_id) in plain.stdout


def test_dmp_commands_refuse_bad_arguments(settings_file: Path) -> None:
    for args in (("dmp", "list", "123"), ("dmp", "show", "not-a-uuid")):
        result = mss(*args, config=settings_file)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
    missing = mss("dmp", "show", "00000000-0000-0000-0000-000000000000", config=settings_file)
    assert missing.returncode == 1
    assert "no DMP document" in missing.stderr
