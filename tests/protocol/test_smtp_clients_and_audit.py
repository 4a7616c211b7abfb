"""aiosmtplib as a second stock client; the audit trail of a session (SEC-IN-4); no content or
secret in the logs (SEC-IN-3)."""

from __future__ import annotations

import logging
import ssl

import aiosmtplib
import pytest

from mss.audit import AuditEvent
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, submission_client

PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


def peer_context(running: RunningOperator) -> ssl.SSLContext:
    return running.client_context("peer_operator")


async def test_aiosmtplib_delivers_over_mx(running: RunningOperator) -> None:
    to = running.account("PER", rpps="10001234567")["address"]
    before = len(inbox(running, to))
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=running.port("mx"),
        start_tls=False,
        local_hostname="mx.operateur-pair.mssante.fr",
    )
    await client.connect()
    await client.starttls(tls_context=peer_context(running))
    errors, reply = await client.sendmail(PEER_SENDER, [to], message(PEER_SENDER, to))
    await client.quit()
    assert errors == {}
    assert reply.startswith("2.0.0")
    assert len(inbox(running, to)) == before + 1


async def test_aiosmtplib_refused_without_listed_certificate(running: RunningOperator) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=running.port("mx"), start_tls=False)
    await client.connect()
    await client.starttls(tls_context=running.client_context("untrusted_operator"))
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as raised:
        await client.sendmail(PEER_SENDER, ["x@hopital-demo.mssante.fr"], b"Subject: x\r\n\r\n")
    await client.quit()
    assert raised.value.code == 550
    assert raised.value.message.startswith("5.7.1")


def test_session_is_audited(running: RunningOperator) -> None:
    """SEC-IN-4: connection, TLS peer, auth, policy decisions and deliveries are traced."""
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.sendmail(doctor["address"], [nurse], message(doctor["address"], nurse))
        client.mail(doctor["address"])
        client.rcpt("nobody@hopital-demo.mssante.fr")
    records = running.call(running.operator.audit.query(limit=200))
    events = {r.event for r in records}
    assert {
        AuditEvent.CONNECTION_OPENED,
        AuditEvent.TLS_ESTABLISHED,
        AuditEvent.AUTH_SUCCEEDED,
        AuditEvent.MESSAGE_DELIVERED,
        AuditEvent.POLICY_DECISION,
    } <= events
    delivered = [
        r for r in records if r.event is AuditEvent.MESSAGE_DELIVERED and r.mailbox == nurse
    ]
    assert delivered
    assert delivered[-1].actor == doctor["address"]
    refused = [r for r in records if r.event is AuditEvent.POLICY_DECISION]
    assert any(r.details.get("reason") == "recipient_unknown" for r in refused)


def test_logs_hold_no_content_nor_secrets(
    running: RunningOperator, caplog: pytest.LogCaptureFixture
) -> None:
    """SEC-IN-3: subjects, bodies and passwords never reach a log record."""
    caplog.set_level(logging.DEBUG)
    doctor = running.account("PER", rpps="10001234567")
    nurse = running.account("PER", rpps="10007654321")["address"]
    secret_subject = "Resultat VIH tres confidentiel"
    with submission_client(running, doctor["address"], doctor["password"]) as client:
        client.sendmail(
            doctor["address"],
            [nurse],
            message(
                doctor["address"], nurse, subject=secret_subject, body="Contenu medical secret\n"
            ),
        )
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal will do here
        submission_client(running, doctor["address"], "wrong-password-xyz")
    text = caplog.text
    assert "queue_id=" in text  # the server's records are captured: the test can fail
    assert secret_subject not in text
    assert "Contenu medical secret" not in text
    assert doctor["password"] not in text
    assert "wrong-password-xyz" not in text
