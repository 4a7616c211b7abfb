"""Postfix as a peer operator (issue 4): a private Postfix instance on loopback high ports, with its
own server and client certificates from the test CA, exchanges mail with our operator.

- Postfix delivers to our MX presenting its client certificate, and is accepted (MSS-TRUST-3).
- Our relay delivers to Postfix, which requires our client certificate (MSS-TRUST-4).
- A Postfix whose client certificate DN is not listed is refused by our MX (5.7.1, MSS-TRUST-3).
- We refuse to deliver to a Postfix whose server certificate DN is not listed for its domain
  (MSS-TRUST-4).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from config.settings import OutboundSettings, TlsSettings
from directory.memory import MemoryDirectory
from directory.models import Whitelist, WhitelistEntry
from directory.whitelist import parse_whitelist
from mss import pki
from mss.outbound.relay import OutboundMessage, OutboundRecipient, RelayResult
from mss.relay.client import SmtpRelay
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message
from tests.protocol.postfix_peer import PostfixCerts, PostfixPeer, available

pytestmark = [
    pytest.mark.external,
    pytest.mark.skipif(not available(), reason="needs Debian postfix and root"),
]

PF_DOMAIN = "postfix-pair.test"
PF_SENDER = f"dr.dupont@{PF_DOMAIN}"


@pytest.fixture(scope="module")
def pf_certs(running: RunningOperator) -> PostfixCerts:
    folder = running.folder / "pki"
    ca = pki.Issued(folder / "ca.pem", folder / "ca.key", "")

    def leaf(name: str, common_name: str) -> pki.Issued:
        return pki.issue(
            ca,
            folder,
            name,
            common_name=common_name,
            organisation="Operateur Postfix",
            organisational_unit=name,
            dns_names=[common_name],
            ip_addresses=["127.0.0.1"],
        )

    return PostfixCerts(
        server=leaf("pf-server", f"mx.{PF_DOMAIN}"),
        client=leaf("pf-client", f"smtp.{PF_DOMAIN}"),
        unlisted=leaf("pf-unlisted", f"smtp-inconnu.{PF_DOMAIN}"),
        ca=folder / "ca.pem",
    )


def demo_entries(running: RunningOperator) -> tuple[WhitelistEntry, ...]:
    return parse_whitelist((running.folder / "whitelist.xml").read_bytes()).entries


@pytest.fixture(scope="module")
def postfix(running: RunningOperator, pf_certs: PostfixCerts) -> Iterator[PostfixPeer]:
    # Our MX lists Postfix's client certificate for its domain (not the "unlisted" one).
    listed = (
        *demo_entries(running),
        WhitelistEntry(PF_DOMAIN, pf_certs.server.subject_dn),
        WhitelistEntry(PF_DOMAIN, pf_certs.client.subject_dn),
    )
    directory = running.operator.directory
    running.call(directory.replace_whitelist(Whitelist(None, listed), datetime.now(UTC)))
    mx = f"[127.0.0.1]:{running.port('mx')}"
    ours = running.manifest["our_domain"]
    peer = PostfixPeer(
        domain=PF_DOMAIN,
        certs=pf_certs,
        transport={
            f"ide.durand@{ours}": f"smtp-unlisted:{mx}",
            ours: f"smtp:{mx}",
        },
        tls_match=running.manifest["hostname"],  # Postfix checks our server certificate's name
    )
    try:
        yield peer.start()
    finally:
        peer.stop()


def inject(peer: PostfixPeer, to: str, body: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", peer.submit_port, timeout=10) as client:
        client.sendmail(PF_SENDER, [to], body)


async def until_stored(running: RunningOperator, to: str, marker: bytes) -> bytes:
    async with asyncio.timeout(30):
        while True:
            found = [raw for raw in await asyncio.to_thread(inbox, running, to) if marker in raw]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


async def test_postfix_delivers_to_our_mx_with_its_client_certificate(
    running: RunningOperator, postfix: PostfixPeer
) -> None:
    """MSS-TRUST-3: Postfix (smtp_tls_security_level=secure, its own client certificate, listed)
    delivers to our MX and the message is stored."""
    to = f"dr.martin@{running.manifest['our_domain']}"
    marker = uuid.uuid4().hex
    inject(postfix, to, message(PF_SENDER, to, subject=f"pf {marker}"))
    stored = await until_stored(running, to, marker.encode())
    assert f"Return-Path: <{PF_SENDER}>".encode() in stored
    log = postfix.wait_log(f"to=<{to}>")
    assert "Verified TLS connection established to 127.0.0.1" in log
    assert "status=sent (250 2.0.0" in log


async def test_postfix_with_an_unlisted_certificate_is_refused_by_our_mx(
    running: RunningOperator, postfix: PostfixPeer
) -> None:
    """MSS-TRUST-3: the same Postfix presenting a certificate whose DN is not listed for its
    domain is refused at MAIL with 5.7.1; Postfix bounces the message to its sender."""
    to = f"ide.durand@{running.manifest['our_domain']}"
    marker = uuid.uuid4().hex
    inject(postfix, to, message(PF_SENDER, to, subject=f"pf {marker}"))
    bounce = await asyncio.to_thread(
        postfix.wait_for, lambda raw: b"Undelivered Mail" in raw and to.encode() in raw
    )
    assert b"5.7.1" in bounce
    stored = await asyncio.to_thread(inbox, running, to)
    assert not any(marker.encode() in raw for raw in stored)


def our_relay(running: RunningOperator, postfix: PostfixPeer) -> tuple[SmtpRelay, MemoryDirectory]:
    """Our operator's relay (its server certificate doubles as its client certificate)."""
    folder = running.folder
    trust = MemoryDirectory()
    relay = SmtpRelay(
        outbound=OutboundSettings(routes={PF_DOMAIN: f"127.0.0.1:{postfix.mx_port}"}),
        tls=TlsSettings(
            cert_file=folder / "pki/server.pem",
            key_file=folder / "pki/server.key",
            trust_anchors=folder / running.manifest["ca_cert"],
        ),
        hostname=running.manifest["hostname"],
        trust=trust,
    )
    return relay, trust


async def relay_to_postfix(
    running: RunningOperator, postfix: PostfixPeer, entries: tuple[WhitelistEntry, ...]
) -> tuple[RelayResult, str]:
    relay, trust = our_relay(running, postfix)
    await trust.replace_whitelist(Whitelist(None, entries), datetime.now(UTC))
    sender = f"dr.martin@{running.manifest['our_domain']}"
    marker = uuid.uuid4().hex
    to = f"dr.bob@{PF_DOMAIN}"
    outbound = OutboundMessage(
        f"q-{marker}",
        sender,
        (OutboundRecipient(to, notify=frozenset({"SUCCESS"})),),
        message(sender, to, subject=f"to postfix {marker}"),
        envid=marker,
    )
    try:
        return await relay.send(PF_DOMAIN, outbound), marker
    finally:
        await relay.close()


async def test_our_relay_delivers_to_postfix_which_requires_our_certificate(
    running: RunningOperator, postfix: PostfixPeer, pf_certs: PostfixCerts
) -> None:
    """MSS-TRUST-4: Postfix's server DN is listed for its domain; Postfix requires and verifies
    our client certificate (smtpd_tls_req_ccert); the message lands in its Maildir."""
    entries = (WhitelistEntry(PF_DOMAIN, pf_certs.server.subject_dn),)
    result, marker = await relay_to_postfix(running, postfix, entries)
    [only] = result.results
    assert only.delivered, only
    assert result.peer_dsn  # Postfix offers DSN: it will report success itself
    delivered = await asyncio.to_thread(postfix.wait_for, lambda raw: marker.encode() in raw)
    assert f"Return-Path: <dr.martin@{running.manifest['our_domain']}>".encode() in delivered
    assert "Trusted TLS connection established from localhost[127.0.0.1]" in postfix.log_text()


def test_postfix_refuses_a_client_without_certificate(postfix: PostfixPeer) -> None:
    """The Postfix peer really requires a client certificate (the previous test is meaningful)."""
    context = ssl.create_default_context(cafile=str(postfix.certs.ca))
    context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", postfix.mx_port, timeout=10) as client:
        client.starttls(context=context)
        code, _ = client.mail("someone@example.test")
    assert code >= 400


async def test_our_relay_refuses_a_postfix_whose_dn_is_not_listed(
    running: RunningOperator, postfix: PostfixPeer, pf_certs: PostfixCerts
) -> None:
    """MSS-TRUST-4: Postfix's certificate is valid, but only another DN is listed for its domain:
    not delivered, 4.7.1 (temporary: the list may be refreshed)."""
    entries = (WhitelistEntry(PF_DOMAIN, pf_certs.client.subject_dn),)
    result, marker = await relay_to_postfix(running, postfix, entries)
    [only] = result.results
    assert (only.code, only.enhanced) == (450, "4.7.1")
    assert "not listed" in only.text
    await asyncio.sleep(0.5)
    assert not any(marker.encode() in raw for raw in postfix.messages())
