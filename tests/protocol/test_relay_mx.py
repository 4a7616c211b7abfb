"""The outbound SMTP client against our own MX (the demo operator): the two sides of the space of
trust meet (MSS-TRUST-3 on their side, MSS-TRUST-4 on ours), with the demo's whitelist and PKI.

The relay plays the demo's *peer operator*: it presents ``peer.pem`` and checks that the demo's
server certificate is listed for the demo's domain, with the same whitelist the demo loads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import OutboundSettings, TlsSettings
from directory.memory import MemoryDirectory
from directory.models import Whitelist, WhitelistEntry
from directory.whitelist import parse_whitelist
from mss.outbound.relay import OutboundMessage, OutboundRecipient, RelayResult
from mss.relay.client import SmtpRelay
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message

PEER_SENDER = "dr.bernard@operateur-pair.mssante.fr"


async def demo_whitelist(
    folder: Path, *, extra: tuple[WhitelistEntry, ...] = ()
) -> MemoryDirectory:
    parsed = parse_whitelist((folder / "whitelist.xml").read_bytes())
    directory = MemoryDirectory()
    await directory.replace_whitelist(
        Whitelist(parsed.generated_at, parsed.entries + extra), datetime.now(UTC)
    )
    return directory


def relay_as(running: RunningOperator, operator: str, trust: MemoryDirectory) -> SmtpRelay:
    entry = running.manifest[operator]
    folder = running.folder
    domain = running.manifest["our_domain"]
    return SmtpRelay(
        outbound=OutboundSettings(routes={domain: f"127.0.0.1:{running.port('mx')}"}),
        tls=TlsSettings(
            cert_file=folder / entry["cert"],
            key_file=folder / entry["key"],
            trust_anchors=folder / running.manifest["ca_cert"],
        ),
        hostname=f"mx.{entry['domain']}",
        trust=trust,
    )


async def send(relay: SmtpRelay, domain: str, outbound: OutboundMessage) -> RelayResult:
    try:
        return await relay.send(domain, outbound)
    finally:
        await relay.close()


def doctor(running: RunningOperator) -> str:
    return str(running.account("PER", rpps="10001234567")["address"])


async def test_relay_delivers_to_our_mx_with_mutual_tls(running: RunningOperator) -> None:
    """MSS-TRUST-4 (our client) meets MSS-TRUST-3 (our MX): delivered and stored; the MX offers
    DSN, so the queue leaves success reports to it."""
    to = doctor(running)
    body = message(PEER_SENDER, to, X_MSS_CODECDA="11488-4")
    before = len(inbox(running, to))
    relay = relay_as(running, "peer_operator", await demo_whitelist(running.folder))
    outbound = OutboundMessage(
        "q-mx-1",
        PEER_SENDER,
        (OutboundRecipient(to, notify=frozenset({"SUCCESS"}), orcpt=f"rfc822;{to}"),),
        body,
        envid="ENV-1",
    )
    result = await send(relay, running.manifest["our_domain"], outbound)
    assert [(r.code, r.enhanced) for r in result.results] == [(250, "2.0.0")]
    assert result.peer_dsn
    stored = inbox(running, to)
    assert len(stored) == before + 1
    assert stored[-1].endswith(body)


async def test_mx_replies_per_recipient_come_back(running: RunningOperator) -> None:
    """An unknown mailbox (5.1.1) next to a good one: one result each, passed through."""
    to = doctor(running)
    domain = running.manifest["our_domain"]
    relay = relay_as(running, "peer_operator", await demo_whitelist(running.folder))
    outbound = OutboundMessage(
        "q-mx-2",
        PEER_SENDER,
        (OutboundRecipient(f"personne@{domain}"), OutboundRecipient(to)),
        message(PEER_SENDER, to),
    )
    result = await send(relay, domain, outbound)
    first, second = result.results
    assert (first.code, first.enhanced, first.permanent) == (550, "5.1.1", True)
    assert second.delivered


async def test_mx_refusal_of_an_unlisted_operator_is_passed_through(
    running: RunningOperator,
) -> None:
    """Our MX refuses an operator whose certificate is not listed (MSS-TRUST-3, 5.7.1); the
    relay reports that reply as a permanent failure of each recipient."""
    to = doctor(running)
    untrusted = running.manifest["untrusted_operator"]
    sender = f"contact@{untrusted['domain']}"
    relay = relay_as(running, "untrusted_operator", await demo_whitelist(running.folder))
    outbound = OutboundMessage("q-mx-3", sender, (OutboundRecipient(to),), message(sender, to))
    result = await send(relay, running.manifest["our_domain"], outbound)
    [only] = result.results
    assert (only.code, only.enhanced) == (550, "5.7.1")


@pytest.mark.parametrize("listed", [False, True])
async def test_relay_refuses_an_mx_whose_dn_is_not_listed_for_the_domain(
    running: RunningOperator, listed: bool
) -> None:
    """MSS-TRUST-4: the demo's certificate is valid, but the domain we send to lists only another
    DN (``listed`` adds the demo's DN for that domain: then it is delivered)."""
    to = doctor(running)
    domain = running.manifest["our_domain"]
    peer_dn = running.manifest["peer_operator"]
    other = "autre-hopital.mssante.fr"
    server_dn = parse_whitelist((running.folder / "whitelist.xml").read_bytes()).entries[0]
    assert server_dn.domain == domain
    extra = [WhitelistEntry(other, "CN=mx.autre,O=Autre,C=FR")]
    if listed:
        extra.append(WhitelistEntry(other, server_dn.certificate_dn))
    trust = await demo_whitelist(running.folder, extra=tuple(extra))
    relay = SmtpRelay(
        outbound=OutboundSettings(routes={other: f"127.0.0.1:{running.port('mx')}"}),
        tls=TlsSettings(
            cert_file=running.folder / peer_dn["cert"],
            key_file=running.folder / peer_dn["key"],
            trust_anchors=running.folder / running.manifest["ca_cert"],
        ),
        hostname="mx.operateur-pair.mssante.fr",
        trust=trust,
    )
    # The demo MX hosts `domain`, not `other`: the recipient is the demo's, routed as `other`.
    outbound = OutboundMessage(
        "q-mx-4", PEER_SENDER, (OutboundRecipient(to),), message(PEER_SENDER, to)
    )
    result = await send(relay, other, outbound)
    [only] = result.results
    if listed:
        assert only.delivered
    else:
        assert (only.code, only.enhanced) == (450, "4.7.1")
        assert "not listed" in only.text
