"""Envoi en Y (issue 5): documents sent over SMTP to a patient land in the patient's record.

Each ANS fixture is wrapped by our XDM builder and submitted by a professional (587, STARTTLS +
AUTH) to the patient's mailbox; the filing job files it after the 250 (DMP-DOC-1, DMP-CLASS-2),
the MDN comes back when asked (DMP-MDN-1, MSS-MSG-3), and a refusal to file never loses the mail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dmp_bridge.cda import parse_cda
from dmp_bridge.classification import classify
from dmp_bridge.store.models import DocumentStatus
from dmp_bridge.xdm_build import build_xdm
from tests.protocol.dmp_mail import (
    bridge,
    cda_bytes,
    documents,
    ensure_patient,
    fixtures,
    mdn_dispositions,
    send_as_doctor,
    wait_for_filing,
    with_fresh_id,
    xdm_message,
)
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, mx_client

PROCESSED = "Disposition: automatic-action/MDN-sent-automatically; processed"


def _doctor(running: RunningOperator) -> str:
    return str(running.account("PER", rpps="10001234567")["address"])


@pytest.mark.parametrize("fixture", fixtures(), ids=lambda p: p.stem)
def test_every_fixture_is_filed_once_in_its_rubric(running: RunningOperator, fixture: Path) -> None:
    """DMP-CLASS-2 + DMP-DOC-1: the right rubric, exactly once even when sent twice."""
    cda = cda_bytes(fixture)
    header = parse_cda(cda)
    patient = ensure_patient(running, header.patient_ins)
    doctor = _doctor(running)
    before_mail = len(inbox(running, patient))
    for _ in range(2):
        send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([cda])]))
    wait_for_filing(running)
    assert len(inbox(running, patient)) == before_mail + 2  # the mail itself, both times
    found = [
        d
        for d in documents(running, header.patient_ins, deprecated=True)
        if d.unique_id == str(header.document_id)
    ]
    assert len(found) == 1
    assert found[0].rubric == classify(header.type.code).rubric
    assert found[0].type_code == header.type.code


def test_replacement_deprecates_its_parent(running: RunningOperator) -> None:
    """DMP-DOC-1: the CSE-CS8 example replaces 1.2.250.1.213.1.1.1.5.1.1; filed after that
    parent version, it deprecates it."""
    original = cda_bytes(next(p for p in fixtures() if p.name.startswith("CSE-CS8")))
    example = parse_cda(original)
    assert example.replaces is not None
    child = original  # fresh ids: the fixture itself was filed by the test above
    for old in (str(example.document_id), str(example.replaces)):
        child = child.replace(f'root="{old}"'.encode(), f'root="{old}.77"'.encode())
    header = parse_cda(child)
    assert header.replaces is not None
    parent = _parent_of(child, str(header.replaces), str(header.document_id))
    patient = ensure_patient(running, header.patient_ins)
    doctor = _doctor(running)
    send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([parent])]))
    wait_for_filing(running)
    send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([child])]))
    wait_for_filing(running)
    by_id = {d.unique_id: d for d in documents(running, header.patient_ins, deprecated=True)}
    assert by_id[str(header.replaces)].status is DocumentStatus.DEPRECATED
    assert by_id[str(header.document_id)].status is DocumentStatus.APPROVED


def _parent_of(child: bytes, parent_id: str, child_id: str) -> bytes:
    """The version the child replaces: its own id, no relatedDocument."""
    start = child.index(b"<relatedDocument")
    end = child.index(b"</relatedDocument>") + len(b"</relatedDocument>")
    without = child[:start] + child[end:]
    root, _, extension = child_id.partition("^")
    assert not extension
    return without.replace(f'root="{root}"'.encode(), f'root="{parent_id}"'.encode(), 1)


def test_dmp_mdn_1_processed_mdn_comes_back(running: RunningOperator) -> None:
    cda = cda_bytes(next(p for p in fixtures() if p.name.startswith("VAC")))
    patient = ensure_patient(running, parse_cda(cda).patient_ins)
    doctor = _doctor(running)
    before = len(inbox(running, doctor))
    send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([cda])]))
    wait_for_filing(running)
    assert mdn_dispositions(inbox(running, doctor)[before:]) == [PROCESSED]


def test_no_mdn_when_not_asked(running: RunningOperator) -> None:
    cda = cda_bytes(next(p for p in fixtures() if p.name.startswith("LDL")))
    patient = ensure_patient(running, parse_cda(cda).patient_ins)
    doctor = _doctor(running)
    before = len(inbox(running, doctor))
    message = xdm_message(doctor, patient, [build_xdm([cda])], receipt=False)
    send_as_doctor(running, patient, message)
    wait_for_filing(running)
    assert inbox(running, doctor)[before:] == []


def test_dmp_mdn_1_document_for_another_patient_is_904(running: RunningOperator) -> None:
    """A CDA for patient A sent to patient B: not filed, MDN error 904, B still gets the mail."""
    cda = cda_bytes(next(p for p in fixtures() if p.name.startswith("OBP")))
    other = running.account("PATIENT", state="active")
    doctor = _doctor(running)
    before_doctor = len(inbox(running, doctor))
    before_patient = len(inbox(running, other["address"]))
    message = xdm_message(doctor, other["address"], [build_xdm([cda])])
    send_as_doctor(running, other["address"], message)
    wait_for_filing(running)
    assert len(inbox(running, other["address"])) == before_patient + 1
    assert documents(running, other["ins"]) == []
    [disposition] = mdn_dispositions(inbox(running, doctor)[before_doctor:])
    assert disposition.endswith("processed/Error: 904^Traits INS incoherents")


def test_mss_msg_4_two_patients_refused_for_filing_mail_delivered(
    running: RunningOperator,
) -> None:
    """MSS-MSG-4: one message, two archives for two patients: nothing filed, mail delivered."""
    first = cda_bytes(next(p for p in fixtures() if p.name.startswith("eP-MED")))
    second = cda_bytes(next(p for p in fixtures() if p.name.startswith("eDISP")))
    ins = parse_cda(first).patient_ins
    assert parse_cda(second).patient_ins != ins
    patient = ensure_patient(running, ins)
    doctor = _doctor(running)
    before_doctor = len(inbox(running, doctor))
    before_patient = len(inbox(running, patient))
    before_docs = len(documents(running, ins))
    archives = [build_xdm([first]), build_xdm([second])]
    send_as_doctor(running, patient, xdm_message(doctor, patient, archives))
    wait_for_filing(running)
    assert len(inbox(running, patient)) == before_patient + 1
    assert len(documents(running, ins)) == before_docs
    [disposition] = mdn_dispositions(inbox(running, doctor)[before_doctor:])
    assert "processed/Error: 904^" in disposition


def test_documents_from_another_operator_over_the_mx_are_filed(running: RunningOperator) -> None:
    """The same path for a peer operator's MTA (MX, mutual TLS, MSS-TRUST-3)."""
    cda = with_fresh_id(cda_bytes(next(p for p in fixtures() if p.name.startswith("TLM"))), "25")
    header = parse_cda(cda)
    patient = ensure_patient(running, header.patient_ins)
    sender = "dr.bernard@operateur-pair.mssante.fr"
    with mx_client(running) as client:
        refused = client.sendmail(
            sender, [patient], xdm_message(sender, patient, [build_xdm([cda])])
        )
    assert refused == {}
    wait_for_filing(running)
    found = [
        d for d in documents(running, header.patient_ins) if d.unique_id == str(header.document_id)
    ]
    assert len(found) == 1
    assert found[0].rubric == "Comptes rendus"


def test_dmp_aud_1_filing_is_traced_and_the_patient_notified(running: RunningOperator) -> None:
    cda = with_fresh_id(cda_bytes(next(p for p in fixtures() if p.name.startswith("VSM"))), "26")
    header = parse_cda(cda)
    patient = ensure_patient(running, header.patient_ins)
    doctor = _doctor(running)
    send_as_doctor(running, patient, xdm_message(doctor, patient, [build_xdm([cda])]))
    wait_for_filing(running)
    [document] = [
        d for d in documents(running, header.patient_ins) if d.unique_id == str(header.document_id)
    ]
    store = bridge(running).store
    traces = running.call(store.traces(header.patient_ins))
    assert any(t.entry_id == document.entry_id and t.allowed for t in traces)
    notices = running.call(store.notifications(header.patient_ins))
    assert any(n.entry_id == document.entry_id for n in notices)


@pytest.mark.external
def test_swaks_submission_with_an_xdm_attachment(running: RunningOperator, tmp_path: Path) -> None:
    """A stock client (swaks) attaching an archive from ``mss xdm build``'s builder to the demo
    patient of the ANS documents: filed, and the MDN comes back (DMP-MDN-1)."""
    binary = shutil.which("swaks")
    if binary is None:
        pytest.skip("swaks is not installed (scripts/test.sh installs it)")
    cda = with_fresh_id(cda_bytes(next(p for p in fixtures() if p.name.startswith("BIO"))), "27")
    header = parse_cda(cda)
    archive = tmp_path / "IHE_XDM.ZIP"
    archive.write_bytes(build_xdm([cda]))
    doctor = running.account("PER", rpps="10001234567")
    patient = running.account("PATIENT", ins=header.patient_ins)["address"]
    before = len(inbox(running, doctor["address"]))
    # swaks --tls verifies nothing by default: the demo CA is not needed here
    result = subprocess.run(
        [
            *(binary, "--server", f"127.0.0.1:{running.port('submission')}", "--tls"),
            *("--auth", "PLAIN", "--auth-user", doctor["address"]),
            *("--auth-password", doctor["password"]),
            *("--from", doctor["address"], "--to", patient),
            *("--header", "Subject: XDM/1.0/DDM+Resultat DUPONT Jeanne 19790301"),
            *("--header", f"Disposition-Notification-To: {doctor['address']}"),
            *("--body", "Bonjour, voici votre resultat."),
            *("--attach-type", "application/zip", "--attach-name", "IHE_XDM.ZIP"),
            *("--attach", f"@{archive}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for_filing(running)
    assert [
        d.rubric
        for d in documents(running, header.patient_ins)
        if d.unique_id == str(header.document_id)
    ] == ["Résultats de biologie"]
    assert mdn_dispositions(inbox(running, doctor["address"])[before:]) == [PROCESSED]
