"""Patients: profile states (MSS-PAT-1), a professional writes first (MSS-PAT-2), [FIN]
(MSS-PAT-3), pharmacies (MSS-PAT-4), 25 MB (MSS-PAT-6). Professionals send over SMTP submission;
the patient answers through the delivery service, as the webmail will."""

from __future__ import annotations

import pytest

from mss.delivery import DeliveryReport, Envelope, Origin, Recipient
from mss.policy import Channel, SessionFacts
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, submission_client


def _ps(running: RunningOperator, rpps: str) -> dict[str, str]:
    return running.account("PER", rpps=rpps)


def ps_sends(running: RunningOperator, to: str, rpps: str = "10001234567", **kw: str) -> None:
    ps = _ps(running, rpps)
    with submission_client(running, ps["address"], ps["password"]) as client:
        assert client.sendmail(ps["address"], [to], message(ps["address"], to, **kw)) == {}


def patient_writes(running: RunningOperator, patient: str, to: str) -> DeliveryReport:
    origin = Origin(SessionFacts(Channel.WEBMAIL, tls=True, user=patient), peer="127.0.0.1:0")
    envelope = Envelope(patient, (Recipient(to),))
    data = message(patient, to, subject="Re: Compte rendu", body="Merci docteur.\n")
    return running.call(running.operator.delivery.submit(origin, envelope, data))


def status(report: DeliveryReport) -> str:
    (outcome,) = report.outcomes
    return "delivered" if outcome.delivered else outcome.decision.status


@pytest.fixture(scope="module")
def patient(running: RunningOperator) -> str:
    return str(running.account("PATIENT", state="active")["address"])


def test_patient_cannot_write_first(running: RunningOperator, patient: str) -> None:
    """MSS-PAT-2: a patient writing to a PS who never wrote is refused with 5.7.1."""
    nurse = _ps(running, "10007654321")["address"]
    assert status(patient_writes(running, patient, nurse)) == "5.7.1"
    assert not any(b"Merci docteur" in m for m in inbox(running, nurse))


def test_exchange_opened_ended_and_reopened(running: RunningOperator, patient: str) -> None:
    """MSS-PAT-2 then MSS-PAT-3: a PS writes, the patient may answer; [FIN] ends it; a new
    message re-opens it."""
    doctor = _ps(running, "10001234567")["address"]
    ps_sends(running, patient)
    assert inbox(running, patient)[-1].endswith(b"voici le compte rendu.\r\n")
    assert status(patient_writes(running, patient, doctor)) == "delivered"
    assert inbox(running, doctor)[-1].endswith(b"Merci docteur.\r\n")

    ps_sends(running, patient, subject="[FIN]")
    assert status(patient_writes(running, patient, doctor)) == "5.7.1"

    ps_sends(running, patient, subject="Nouveau resultat")
    assert status(patient_writes(running, patient, doctor)) == "delivered"

    ps_sends(running, patient, subject="Suite", X_MSS_MES="FIN")
    assert status(patient_writes(running, patient, doctor)) == "5.7.1"


def test_reply_to_mssante_address_is_the_granted_one(
    running: RunningOperator, patient: str
) -> None:
    """MSS-PAT-2: the authorised address is the Reply-To when it is an MSSanté address."""
    org = next(a for a in running.manifest["accounts"] if a["kind"] == "ORG" and a["delegates"])
    ps_sends(running, patient, Reply_To=org["address"])
    assert status(patient_writes(running, patient, org["address"])) == "delivered"


def test_patient_may_write_first_to_a_pharmacy(running: RunningOperator, patient: str) -> None:
    """MSS-PAT-4."""
    pharmacy = running.account("ORG", pharmacy=True)["address"]
    assert status(patient_writes(running, patient, pharmacy)) == "delivered"


@pytest.mark.parametrize("state", ["pending", "opposed", "closed"])
def test_closed_profiles_do_not_receive(running: RunningOperator, state: str) -> None:
    """MSS-PAT-1: pending, opposed and closed profiles refuse with 5.1.1."""
    ps = _ps(running, "10001234567")
    to = running.account("PATIENT", state=state)["address"]
    with submission_client(running, ps["address"], ps["password"]) as client:
        client.mail(ps["address"])
        code, text = client.rcpt(to)
    assert (code, text.split()[0]) == (550, b"5.1.1")


def test_auto_created_profile_receives(running: RunningOperator) -> None:
    """MSS-PAT-1: auto-created profiles are open."""
    to = running.account("PATIENT", state="auto_created")["address"]
    ps_sends(running, to)
    assert len(inbox(running, to)) >= 1


def test_unknown_ins_is_refused(running: RunningOperator) -> None:
    """MSS-PAT-1 / MSS-INS-1: an INS nobody holds here is refused with 5.1.1."""
    ps = _ps(running, "10001234567")
    with submission_client(running, ps["address"], ps["password"]) as client:
        client.mail(ps["address"])
        code, text = client.rcpt(f"180017512345678@{running.manifest['patient_domain']}")
    assert (code, text.split()[0]) == (550, b"5.1.1")


def test_declared_size_over_25_mb_to_patient(running: RunningOperator, patient: str) -> None:
    """MSS-PAT-6: SIZE above 25 MB is refused at RCPT for a patient, not for a PS."""
    ps = _ps(running, "10001234567")
    with submission_client(running, ps["address"], ps["password"]) as client:
        client.mail(ps["address"], options=[f"SIZE={26 * 1024 * 1024}"])
        code, text = client.rcpt(patient)
        assert (code, text.split()[0]) == (552, b"5.3.4")
        code, _ = client.rcpt(_ps(running, "10007654321")["address"])
        assert code == 250
