"""DSN (MSS-MSG-2): RFC 3461 parameters accepted, success and failure reports (RFC 3464)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, submission_client


def _report(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/report"
    return parsed


def _status_fields(report: EmailMessage) -> str:
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return "\n".join(str(p) for p in payload)
            return str(payload)
    raise AssertionError("no message/delivery-status part")


def test_success_dsn_for_local_delivery(running: RunningOperator) -> None:
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    before = len(inbox(running, doctor["address"]))
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.mail(doctor["address"], options=["RET=HDRS", "ENVID=Env+2B42"])
        code, _ = client.rcpt(nurse, options=["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{nurse}"])
        assert code == 250
        code, _ = client.data(message(doctor["address"], nurse))
        assert code == 250
    reports = inbox(running, doctor["address"])[before:]
    assert len(reports) == 1
    fields = _status_fields(_report(reports[0]))
    assert "Action: delivered" in fields
    assert "Status: 2.0.0" in fields
    assert "Original-Envelope-Id: Env+42" in fields  # xtext-decoded (RFC 3461 §4.4)
    assert f"Original-Recipient: rfc822;{nurse}" in fields.replace("; ", ";")


def test_no_dsn_without_notify_success(running: RunningOperator) -> None:
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    before = len(inbox(running, doctor["address"]))
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.sendmail(doctor["address"], [nurse], message(doctor["address"], nurse))
    assert len(inbox(running, doctor["address"])) == before


def test_failure_after_acceptance_gives_a_failure_dsn(running: RunningOperator) -> None:
    """MSS-PAT-6 found at DATA for one recipient: the others get the message, the sender a DSN."""
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    patient = running.account("PATIENT", state="active")["address"]
    big = message(doctor["address"], patient, body="x" * 70 + "\n")
    big = big + (b"y" * 998 + b"\r\n") * (26 * 1024 * 1024 // 1000)
    before_doctor = len(inbox(running, doctor["address"]))
    before_patient = len(inbox(running, patient))
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.mail(doctor["address"])  # no SIZE=: the limit is found at DATA
        assert client.rcpt(patient)[0] == 250
        assert client.rcpt(nurse)[0] == 250
        assert client.data(big)[0] == 250
    assert len(inbox(running, patient)) == before_patient
    reports = inbox(running, doctor["address"])[before_doctor:]
    assert len(reports) == 1
    fields = _status_fields(_report(reports[0]))
    assert "Action: failed" in fields
    assert "Status: 5.3.4" in fields
    assert patient in fields


def test_notify_never_and_bad_parameters(running: RunningOperator) -> None:
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        code, text = client.mail(doctor["address"], options=["FOO=BAR"])
        assert (code, text.split()[0]) == (555, b"5.5.4")
        client.mail(doctor["address"])
        code, _ = client.rcpt(nurse, options=["NOTIFY=NEVER,SUCCESS"])
        assert code == 501
        code, _ = client.rcpt(nurse, options=["NOTIFY=NEVER"])
        assert code == 250
