"""A smarthost for the notification tests: the relay tests' SMTP sink with STARTTLS required, a
certificate for 127.0.0.1 from its own test CA, and helpers to read what it received."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from mss import pki
from tests.protocol.relay_sink import SmtpSink, Transaction, sink_tls

AUTH_EXTENSIONS = ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES")


@dataclass(frozen=True)
class SmarthostPki:
    ca: Path
    cert: Path
    key: Path


def smarthost_pki(folder: Path) -> SmarthostPki:
    ca = pki.create_ca(folder, "Smarthost Test CA", name="smarthost-ca")
    leaf = pki.issue(
        ca,
        folder,
        "smarthost",
        common_name="smtp.example.test",
        organisation="Smarthost",
        ip_addresses=["127.0.0.1"],
        client=False,
    )
    return SmarthostPki(ca.cert_path, leaf.cert_path, leaf.key_path)


def smarthost(certs: SmarthostPki) -> SmtpSink:
    """A sink that refuses MAIL before STARTTLS (``530``)."""
    tls = sink_tls(certs.cert, certs.key, certs.ca, require_client_cert=False)
    return SmtpSink(tls, extensions=AUTH_EXTENSIONS)


def recipient(transaction: Transaction) -> str:
    return transaction.accepted[0]


def parsed(transaction: Transaction) -> EmailMessage:
    message = email.message_from_bytes(transaction.body, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(transaction: Transaction) -> str:
    """Subject and decoded text of a notification: what the patient reads."""
    message = parsed(transaction)
    body = message.get_body(("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"
