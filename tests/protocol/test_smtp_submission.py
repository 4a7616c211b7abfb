"""Submission for professionals: TLS before AUTH (MSS-TLS-2), own or delegated BAL (MSS-BAL-2)."""

from __future__ import annotations

import smtplib

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, submission_client


def per(running: RunningOperator, rpps: str = "10001234567") -> dict[str, str]:
    return running.account("PER", rpps=rpps)


def test_no_auth_before_tls(running: RunningOperator) -> None:
    """MSS-TLS-2: AUTH is neither advertised nor accepted before STARTTLS."""
    with smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        assert not client.has_extn("auth")
        code, text = client.docmd("AUTH", "PLAIN AGZvbwBiYXI=")
        assert code in (530, 538)  # RFC 3207 "STARTTLS first" or RFC 4954 "encryption required"
        assert text.startswith(b"5.7.")
        code, text = client.mail(per(running)["address"])
        assert (code, text.split()[0]) == (530, b"5.7.0")


def test_starttls_submission_delivers_locally(running: RunningOperator) -> None:
    sender = per(running)
    to = per(running, "10007654321")["address"]
    with submission_client(running, sender["address"], sender["password"]) as client:
        assert client.has_extn("auth")
        assert client.sendmail(sender["address"], [to], message(sender["address"], to)) == {}
    assert inbox(running, to)[-1].endswith(b"voici le compte rendu.\r\n")


def test_implicit_tls_submission_with_auth_login(running: RunningOperator) -> None:
    sender = per(running)
    to = per(running, "10007654321")["address"]
    before = len(inbox(running, to))
    with smtplib.SMTP_SSL(
        "127.0.0.1", running.port("submissions"), context=running.client_context(), timeout=10
    ) as client:
        client.ehlo("client.test")
        client.user, client.password = sender["address"], sender["password"]
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235
        client.sendmail(sender["address"], [to], message(sender["address"], to))
    assert len(inbox(running, to)) == before + 1


def test_wrong_password_is_refused(running: RunningOperator) -> None:
    sender = per(running)
    with pytest.raises(smtplib.SMTPAuthenticationError) as raised:
        submission_client(running, sender["address"], "not the password")
    assert raised.value.smtp_code == 535
    assert str(raised.value.smtp_error).lstrip("b'").startswith("5.7.8")


def test_unknown_login_is_refused(running: RunningOperator) -> None:
    with pytest.raises(smtplib.SMTPAuthenticationError):
        submission_client(running, "ghost@hopital-demo.mssante.fr", "x")


def test_patient_cannot_use_smtp_submission(running: RunningOperator) -> None:
    patient = running.account("PATIENT", state="active")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        submission_client(running, patient["address"], patient["password"])


def test_mail_without_auth_is_refused(running: RunningOperator) -> None:
    with smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        client.starttls(context=running.client_context())
        client.ehlo("client.test")
        code, text = client.mail(per(running)["address"])
    assert (code, text.split()[0]) == (530, b"5.7.0")


def test_sender_must_be_own_bal(running: RunningOperator) -> None:
    """MSS-BAL-2: a PS sends as their own BAL or as a BAL they are a delegate of."""
    nurse = per(running, "10007654321")
    pharmacy = running.account("ORG", pharmacy=True)["address"]
    with submission_client(running, nurse["address"], nurse["password"]) as client:
        code, text = client.mail(pharmacy)
        assert (code, text.split()[0]) == (550, b"5.7.1")
        client.rset()
        code, text = client.mail(per(running)["address"])  # another PS's BAL
        assert (code, text.split()[0]) == (550, b"5.7.1")


def test_delegate_sends_as_organisational_bal(running: RunningOperator) -> None:
    """MSS-BAL-2: a delegate authenticates as themself and sends as the ORG BAL."""
    nurse = per(running, "10007654321")
    org = next(a for a in running.manifest["accounts"] if a["kind"] == "ORG" and a["delegates"])
    to = per(running)["address"]
    with submission_client(running, nurse["address"], nurse["password"]) as client:
        assert client.sendmail(org["address"], [to], message(org["address"], to)) == {}


def test_plain_with_authorisation_identity(running: RunningOperator) -> None:
    """MSS-BAL-2: SASL authorisation identity = the ORG BAL address."""
    import base64

    doctor = per(running)
    org = next(a for a in running.manifest["accounts"] if a["kind"] == "ORG" and a["delegates"])
    pharmacy = running.account("ORG", pharmacy=True)["address"]
    with smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        client.starttls(context=running.client_context())
        client.ehlo("client.test")
        good = f"{org['address']}\0{doctor['address']}\0{doctor['password']}".encode()
        code, _ = client.docmd("AUTH", "PLAIN " + base64.b64encode(good).decode())
        assert code == 235
    with smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        client.starttls(context=running.client_context())
        client.ehlo("client.test")
        bad = f"{pharmacy}\0{doctor['address']}\0{doctor['password']}".encode()
        code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(bad).decode())
        assert (code, text.split()[0]) == (535, b"5.7.8")


def test_remote_recipient_outside_space_of_trust_is_refused(running: RunningOperator) -> None:
    """MSS-TRUST-4: relay only to whitelisted domains, refused at RCPT."""
    doctor = per(running)
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.mail(doctor["address"])
        code, text = client.rcpt("someone@gmail.example")
    assert (code, text.split()[0]) == (550, b"5.7.1")


def test_no_reply_mailbox_refuses_mail(running: RunningOperator) -> None:
    """MSS-BAL-3."""
    doctor = per(running)
    noreply = running.account("APP", no_reply=True)["address"]
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.mail(doctor["address"])
        code, text = client.rcpt(noreply)
    assert (code, text.split()[0]) == (550, b"5.7.1")
    assert b"does not accept replies" in text
