"""Two ``mss`` operators on loopback exchange mail both ways over verified mutual TLS, and a
``NOTIFY=SUCCESS`` report comes back to the sender (issue 4: MSS-TRUST-4, MSS-MSG-2).

Operator A is the demo (``hopital-demo.mssante.fr``); operator B hosts the demo's peer domain
(``operateur-pair.mssante.fr``) with the peer certificate, from its own folder and database.
Both certificates chain to the demo CA (standing in for IGC-Santé) and both domains are on the
whitelist with their DN. Each routes the other's domain to its MX (``outbound.routes``).
"""

from __future__ import annotations

import asyncio
import email
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from config import Settings, load_settings
from config.settings import ListenerSettings
from directory.models import BalKind, Domain, DomainKind, Mailbox
from mss import demo
from mss.app import Operator, serving
from tests.protocol.mail import message

B_USER = f"dr.bernard@{demo.PEER_DOMAIN}"
B_PASSWORD = "mot-de-passe-bernard"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tuned(settings: Settings, **changes: Any) -> Settings:
    """Fast hashes and quick queue scans for tests, plus ``changes`` per section."""
    sections: dict[str, Any] = {
        "directory": {"argon2_time_cost": 1, "argon2_memory_kib": 8},
        "smtp": {"auth_failure_delay": 0.0},
        "outbound": {"poll_interval": 0.2, "retry_schedule": [1.0]},
    }
    for name, values in changes.items():
        sections.setdefault(name, {}).update(values)
    update = {
        name: getattr(settings, name).model_copy(update=values) for name, values in sections.items()
    }
    return settings.model_copy(update=update)


def listener(port: int) -> ListenerSettings:
    return ListenerSettings(host="127.0.0.1", port=port)


@pytest.fixture
async def operators(tmp_path: Path) -> AsyncIterator[tuple[Operator, Operator, dict[str, Any]]]:
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    demo.prepare(folder_a, port_base=0)
    base = load_settings(folder_a / demo.CONFIG)
    pki = folder_a / "pki"
    mx_a, mx_b = free_port(), free_port()
    settings_a = tuned(
        base,
        smtp={"mx": listener(mx_a)},
        outbound={"routes": {demo.PEER_DOMAIN: f"127.0.0.1:{mx_b}"}},
    )
    settings_b = tuned(
        base.model_copy(update={"data_dir": folder_b / "data"}),
        smtp={"hostname": f"mx.{demo.PEER_DOMAIN}", "mx": listener(mx_b)},
        tls={"cert_file": pki / "peer.pem", "key_file": pki / "peer.key"},
        storage={"blob_dir": folder_b / "data" / "blobs"},
        outbound={"routes": {demo.OUR_DOMAIN: f"127.0.0.1:{mx_a}"}},
    )
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(serving(settings_a))
        await demo.populate(a, folder_a)
        demo.write_manifest(a, folder_a)
        b = await stack.enter_async_context(serving(settings_b))
        await b.directory.add_domain(Domain(demo.PEER_DOMAIN, DomainKind.PROFESSIONAL))
        created = datetime.now(UTC)
        await b.directory.add_mailbox(Mailbox(B_USER, BalKind.PER, created_at=created))
        await b.directory.set_password(B_USER, B_PASSWORD)
        await b.store.create_account(B_USER)
        manifest = json.loads((folder_a / demo.MANIFEST).read_text())
        manifest["ca_path"] = str(folder_a / manifest["ca_cert"])
        yield a, b, manifest


def account(manifest: dict[str, Any], address_prefix: str) -> dict[str, Any]:
    return next(a for a in manifest["accounts"] if a["address"].startswith(address_prefix))


async def submit(
    operator: Operator,
    ca_path: str,
    login: str,
    password: str,
    to: str,
    data: bytes,
    rcpt_options: list[str] | None = None,
) -> None:
    context = ssl.create_default_context(cafile=ca_path)
    context.check_hostname = False
    port = operator.listeners["submission"].port
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, start_tls=True, tls_context=context, timeout=30
    )
    await client.connect()
    try:
        await client.login(login, password)
        errors, _ = await client.sendmail(login, [to], data, rcpt_options=rcpt_options or [])
        assert errors == {}
    finally:
        await client.quit()


async def inbox(operator: Operator, account_name: str) -> list[Message]:
    folder = await operator.store.get_folder(account_name, "INBOX")
    if folder is None:
        return []
    records = await operator.store.list_messages(folder.id)
    bodies = [await operator.store.get_body(folder.id, r.uid) for r in records]
    return [email.message_from_bytes(b) for b in bodies]


async def eventually(
    check: Callable[[], Awaitable[list[Message]]], count: int = 1, seconds: float = 30
) -> list[Message]:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


def status_groups(report: Message) -> list[Message]:
    part = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    payload = part.get_payload()
    assert isinstance(payload, list)
    return [group for group in payload if isinstance(group, Message)]


async def test_mail_both_ways_with_a_success_report(
    operators: tuple[Operator, Operator, dict[str, Any]],
) -> None:
    a, b, manifest = operators
    doctor = account(manifest, "dr.martin@")
    subject = "Compte rendu A vers B"
    data = message(doctor["address"], B_USER, subject=subject)

    # A -> B, NOTIFY=SUCCESS: queued at A, relayed over mutual TLS, stored at B.
    await submit(
        a,
        manifest["ca_path"],
        doctor["address"],
        doctor["password"],
        B_USER,
        data,
        rcpt_options=["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{B_USER}"],
    )
    [received] = await eventually(lambda: inbox(b, B_USER))
    assert received["Subject"] == subject
    trace = received.get_all("Received") or []
    assert any(f"mx.{demo.OUR_DOMAIN}" in str(line) for line in trace)

    # B supports DSN: it reports the delivery itself, back through its queue to A's MX.
    reports = await eventually(lambda: inbox(a, doctor["address"]))
    [report] = [r for r in reports if r.get_content_type() == "multipart/report"]
    per_message, *per_recipient = status_groups(report)
    assert per_message["Reporting-MTA"] == f"dns; mx.{demo.PEER_DOMAIN}"  # B said so
    assert [str(g["Action"]) for g in per_recipient] == ["delivered"]
    assert per_recipient[0]["Original-Recipient"] == f"rfc822; {B_USER}"  # ORCPT went on
    assert report["Return-Path"] == "<>"

    # B -> A.
    reply = message(B_USER, doctor["address"], subject="Reponse B vers A")
    await submit(b, manifest["ca_path"], B_USER, B_PASSWORD, doctor["address"], reply)
    arrived = await eventually(lambda: inbox(a, doctor["address"]), count=2)
    assert "Reponse B vers A" in [str(m["Subject"]) for m in arrived]
    assert a.outbound is not None
    assert b.outbound is not None
    assert await a.outbound.list_messages() == []
    assert await b.outbound.list_messages() == []


async def test_remote_domain_off_the_whitelist_is_refused_at_rcpt(
    operators: tuple[Operator, Operator, dict[str, Any]],
) -> None:
    """MSS-TRUST-4: refused with 5.7.1 before anything is queued."""
    a, _b, manifest = operators
    doctor = account(manifest, "dr.martin@")
    to = f"someone@{demo.UNTRUSTED_DOMAIN}"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await submit(
            a,
            manifest["ca_path"],
            doctor["address"],
            doctor["password"],
            to,
            message(doctor["address"], to),
        )
    [error] = refused.value.recipients
    assert (error.code, error.message.split()[0]) == (550, "5.7.1")
    assert a.outbound is not None
    assert await a.outbound.list_messages() == []
