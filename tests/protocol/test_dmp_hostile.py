"""Hostile attachments through the whole path (SEC-IN-1, SEC-IN-2, DMP-MDN-1).

Each is an ``IHE_XDM.ZIP`` submitted over SMTP to a patient: the mail is delivered (a failure to
file never loses the mail), nothing is filed, the MDN says ``processed/Error: 906^…`` and the
server keeps serving (a good archive sent afterwards is filed).
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Callable

import pytest

from dmp_bridge.cda import parse_cda
from dmp_bridge.xdm_build import build_xdm
from tests.protocol.dmp_mail import (
    cda_bytes,
    documents,
    ensure_patient,
    fixtures,
    mdn_dispositions,
    send_as_doctor,
    wait_for_filing,
    xdm_message,
)
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox

METADATA = "IHE_XDM/SUBSET01/METADATA.XML"
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<lcm:SubmitObjectsRequest>&x;</lcm:SubmitObjectsRequest>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><ClinicalDocument xmlns="urn:hl7-org:v3">&c;'
    b"</ClinicalDocument>"
)


def _good_cda() -> bytes:
    return cda_bytes(next(p for p in fixtures() if p.name.startswith("VAC")))


def _zip(entries: dict[str, bytes], *, link: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, b"/etc/passwd")
    return buffer.getvalue()


def _entries(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        return {info.filename: source.read(info) for info in source.infolist()}


def _with(edit: Callable[[dict[str, bytes]], None]) -> bytes:
    entries = _entries(build_xdm([_good_cda()]))
    edit(entries)
    return _zip(entries)


def _ratio_bomb() -> bytes:
    return _zip({METADATA: bytes(40 * 1024 * 1024)})


def _nested_zip() -> bytes:
    return _with(lambda e: e.update({"IHE_XDM/SUBSET01/INNER.ZIP": build_xdm([_good_cda()])}))


def _dot_dot() -> bytes:
    return _with(lambda e: e.update({"IHE_XDM/../../etc/cron.d/x": b"* * * * * root id"}))


def _uri_escape() -> bytes:
    def edit(entries: dict[str, bytes]) -> None:
        entries[METADATA] = entries[METADATA].replace(b">DOC0001.XML<", b">../../DOC0001.XML<")

    return _with(edit)


def _xxe_metadata() -> bytes:
    return _with(lambda e: e.update({METADATA: XXE}))


def _laughs_cda() -> bytes:
    def edit(entries: dict[str, bytes]) -> None:
        entries["IHE_XDM/SUBSET01/DOC0001.XML"] = LAUGHS

    return _with(edit)


def _symlink() -> bytes:
    return _zip(_entries(build_xdm([_good_cda()])), link="IHE_XDM/SUBSET01/LINK")


def _not_a_zip() -> bytes:
    return b"PK\x03\x04 this is no zip at all" * 100


HOSTILE: dict[str, Callable[[], bytes]] = {
    "zip_bomb_ratio": _ratio_bomb,
    "nested_zip": _nested_zip,
    "dot_dot_path": _dot_dot,
    "uri_outside_folder": _uri_escape,
    "xxe_in_metadata": _xxe_metadata,
    "billion_laughs_in_cda": _laughs_cda,
    "symlink_entry": _symlink,
    "not_a_zip": _not_a_zip,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_archive_is_not_filed_mail_delivered_mdn_906(
    running: RunningOperator, name: str
) -> None:
    ins = parse_cda(_good_cda()).patient_ins
    patient = ensure_patient(running, ins)
    doctor = str(running.account("PER", rpps="10001234567")["address"])
    before_mail = len(inbox(running, patient))
    before_doctor = len(inbox(running, doctor))
    before_docs = documents(running, ins, deprecated=True)
    send_as_doctor(running, patient, xdm_message(doctor, patient, [HOSTILE[name]()]))
    wait_for_filing(running)
    assert len(inbox(running, patient)) == before_mail + 1
    assert documents(running, ins, deprecated=True) == before_docs
    [disposition] = mdn_dispositions(inbox(running, doctor)[before_doctor:])
    assert disposition.endswith("processed/Error: 906^Autre erreur")


def test_server_keeps_serving_and_filing_after_hostile_input(running: RunningOperator) -> None:
    cda = _good_cda()
    ins = parse_cda(cda).patient_ins
    patient = ensure_patient(running, ins)
    doctor = str(running.account("PER", rpps="10001234567")["address"])
    send_as_doctor(running, patient, xdm_message(doctor, patient, [_ratio_bomb()]))
    send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([cda])]))
    wait_for_filing(running)
    unique_id = str(parse_cda(cda).document_id)
    assert [d.unique_id for d in documents(running, ins)].count(unique_id) == 1
