"""Inbound from other operators over the MX listener (MSS-TRUST-3, MSS-TLS-1, MSS-MSG-1)."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, mx_client, reply_of, tls_context_max

PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


def doctor(running: RunningOperator) -> str:
    return str(running.account("PER", rpps="10001234567")["address"])


def test_peer_operator_delivers_and_message_is_stored_byte_identical(
    running: RunningOperator,
) -> None:
    """MSS-TRUST-3 accept path; MSS-MSG-1: X-MSS-* and receipt headers travel untouched."""
    to = doctor(running)
    sent = message(
        PEER_SENDER,
        to,
        X_MSS_CODECDA="11488-4",
        X_MSS_INS="N",
        X_MSS_NIL="Logiciel 1.0",
        Disposition_Notification_To=PEER_SENDER,
    )
    before = len(inbox(running, to))
    with mx_client(running) as client:
        refused = client.sendmail(PEER_SENDER, [to], sent)
    assert refused == {}
    stored = inbox(running, to)
    assert len(stored) == before + 1
    body = stored[-1]
    assert body.endswith(sent)
    trace = body[: -len(sent)]
    assert trace.startswith(b"Return-Path: <" + PEER_SENDER.encode() + b">\r\nReceived: ")
    assert b"X-MSS-CODECDA: 11488-4\r\n" in body


def test_ehlo_advertises_extensions_and_no_auth_on_mx(running: RunningOperator) -> None:
    with mx_client(running) as client:
        for extension in (
            "size",
            "8bitmime",
            "enhancedstatuscodes",
            "pipelining",
            "dsn",
            "smtputf8",
        ):
            assert client.has_extn(extension), extension
        assert not client.has_extn("auth")
        assert not client.has_extn("starttls")  # already in TLS


def test_starttls_is_advertised_before_tls(running: RunningOperator) -> None:
    with smtplib.SMTP("127.0.0.1", running.port("mx"), timeout=10) as client:
        client.ehlo("peer.test")
        assert client.has_extn("starttls")


def test_plaintext_mail_is_refused(running: RunningOperator) -> None:
    """MSS-TRUST-3: STARTTLS is mandatory before MAIL."""
    with smtplib.SMTP("127.0.0.1", running.port("mx"), timeout=10) as client:
        client.ehlo("peer.test")
        code, text = client.mail(PEER_SENDER)
    assert (code, text.split()[0]) == (530, b"5.7.0")


def test_no_client_certificate_is_refused(running: RunningOperator) -> None:
    """MSS-TRUST-3: a peer must present a certificate."""
    with mx_client(running, operator=None) as client:
        code, text = client.mail(PEER_SENDER)
    assert (code, text.split()[0]) == (550, b"5.7.1")


def test_untrusted_operator_certificate_is_refused(running: RunningOperator) -> None:
    """MSS-TRUST-3: a CA-signed certificate whose DN is not on the whitelist."""
    with mx_client(running, operator="untrusted_operator") as client:
        code, text = client.mail("someone@operateur-inconnu.example")
        assert (code, text.split()[0]) == (550, b"5.7.1")
        code, text = client.mail(PEER_SENDER)  # claiming a listed domain does not help
        assert (code, text.split()[0]) == (550, b"5.7.1")


def test_sender_domain_must_match_the_certificate(running: RunningOperator) -> None:
    """MSS-TRUST-3: the peer's DN must be listed for the envelope sender's domain."""
    with mx_client(running) as client:
        code, text = client.mail(f"x@{running.manifest['our_domain']}")  # listed, other DN
        assert (code, text.split()[0]) == (550, b"5.7.1")
        client.rset()
        code, text = client.mail("x@not-in-the-space-of-trust.example")
        assert (code, text.split()[0]) == (550, b"5.7.1")


def test_tls_1_1_is_refused(running: RunningOperator) -> None:
    """MSS-TLS-1: nothing below TLS 1.2."""
    with smtplib.SMTP("127.0.0.1", running.port("mx"), timeout=10) as client:
        client.ehlo("peer.test")
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            client.starttls(context=tls_context_max(ssl.TLSVersion.TLSv1_1, running))


def test_tls_1_2_uses_a_listed_cipher(running: RunningOperator) -> None:
    """MSS-TLS-1: with TLS 1.2 only the four ECDHE-RSA suites are offered."""
    context = running.client_context("peer_operator")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with smtplib.SMTP("127.0.0.1", running.port("mx"), timeout=10) as client:
        client.ehlo("peer.test")
        client.starttls(context=context)
        sock = client.sock
        assert isinstance(sock, ssl.SSLSocket)
        cipher = sock.cipher()
        assert cipher is not None
        assert cipher[0] in {
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES256-SHA384",
            "ECDHE-RSA-AES128-SHA256",
        }


def test_mx_does_not_relay(running: RunningOperator) -> None:
    """MSS-TRUST-4: operators never relay for each other."""
    with mx_client(running) as client:
        client.mail(PEER_SENDER)
        code, text = client.rcpt("someone@other-operator.mssante.fr")
    assert (code, text.split()[0]) == (550, b"5.7.1")


def test_unknown_recipient_is_refused(running: RunningOperator) -> None:
    with mx_client(running) as client:
        client.mail(PEER_SENDER)
        code, text = client.rcpt(f"nobody@{running.manifest['our_domain']}")
    assert (code, text.split()[0]) == (550, b"5.1.1")


def test_refusal_surfaces_through_smtplib(running: RunningOperator) -> None:
    with (
        mx_client(running, operator="untrusted_operator") as client,
        pytest.raises(smtplib.SMTPSenderRefused) as raised,
    ):
        client.sendmail(PEER_SENDER, [doctor(running)], message(PEER_SENDER, "x@y"))
    assert reply_of(raised.value) == (550, "5.7.1")
