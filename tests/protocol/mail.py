"""Helpers to build test messages and read what the store holds."""

from __future__ import annotations

import smtplib
import ssl
import uuid
import warnings
from email.message import EmailMessage

from tests.protocol.harness import RunningOperator


def message(
    sender: str,
    to: str,
    subject: str = "Compte rendu",
    body: str = "Bonjour,\nvoici le compte rendu.\n",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@test.invalid>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def inbox(running: RunningOperator, account: str) -> list[bytes]:
    """Bodies of the account's INBOX, in UID order."""

    async def read() -> list[bytes]:
        store = running.operator.store
        folder = await store.get_folder(account, "INBOX")
        if folder is None:
            return []
        records = await store.list_messages(folder.id)
        return [await store.get_body(folder.id, r.uid) for r in records]

    return running.call(read())


def mx_client(running: RunningOperator, operator: str | None = "peer_operator") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", running.port("mx"), timeout=30)
    client.ehlo("mx.operateur-pair.mssante.fr")
    client.starttls(context=running.client_context(operator))
    client.ehlo("mx.operateur-pair.mssante.fr")
    return client


def submission_client(running: RunningOperator, login: str, password: str) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=30)
    try:
        client.ehlo("client.test")
        client.starttls(context=running.client_context())
        client.ehlo("client.test")
        client.login(login, password)
    except BaseException:
        client.close()
        raise
    return client


def reply_of(error: smtplib.SMTPException) -> tuple[int, str]:
    """(code, enhanced status) of a refusal raised by smtplib."""
    text: bytes | str
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
    elif isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, error.smtp_error
    else:
        raise AssertionError(f"no SMTP reply in {error!r}")
    reply = text.decode() if isinstance(text, bytes) else text
    return code, reply.split(" ", 1)[0]


def tls_context_max(version: ssl.TLSVersion, running: RunningOperator) -> ssl.SSLContext:
    """A client that offers nothing newer than ``version`` (e.g. TLS 1.1, deprecated)."""
    context = running.client_context("peer_operator")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
