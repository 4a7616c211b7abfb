"""The outbound SMTP client against small sinks with their own test PKI (MSS-TRUST-4, MSS-TLS-1,
MSS-MSG-2): verified mutual TLS, fail-closed refusals, reply mapping, DSN parameters, reuse."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvloop

from config.settings import OutboundSettings, TlsSettings
from directory.dn import normalise_dn
from mss import pki
from mss.outbound.relay import OutboundMessage, OutboundRecipient, RelayResult
from mss.relay.client import SmtpRelay
from tests.protocol.relay_sink import SmtpSink, sink_tls

DOMAIN = "operateur-pair.test"
SENDER = "dr.martin@hopital-demo.test"
BODY = b"From: a@b\r\nSubject: t\r\n\r\nbonjour\r\n.leading dot\r\n"


@dataclass(frozen=True)
class Pki:
    ca: pki.Issued
    ours: pki.Issued  # our client certificate
    peer: pki.Issued  # the sink's certificate, listed for DOMAIN
    unlisted: pki.Issued  # chains to our CA, DN not listed
    foreign: pki.Issued  # from another CA
    expired: pki.Issued
    revoked: pki.Issued
    crl: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("relay-pki")
    ca = pki.create_ca(folder)
    other_ca = pki.create_ca(folder, "Other CA", name="other-ca")

    def leaf(authority: pki.Issued, name: str, **extra: Any) -> pki.Issued:
        return pki.issue(
            authority,
            folder,
            name,
            common_name=f"mx.{name}.test",
            organisation=f"Operateur {name}",
            ip_addresses=["127.0.0.1"],
            **extra,
        )

    revoked = leaf(ca, "revoked")
    return Pki(
        ca=ca,
        ours=leaf(ca, "ours"),
        peer=leaf(ca, "peer"),
        unlisted=leaf(ca, "unlisted"),
        foreign=leaf(other_ca, "foreign"),
        expired=leaf(ca, "expired", days=1, not_before=datetime.now(UTC) - timedelta(days=3)),
        revoked=revoked,
        crl=pki.create_crl(ca, folder / "crl.pem", [revoked]),
    )


class Whitelist:
    def __init__(self, listed: dict[str, list[str]]) -> None:
        self.listed = {d: frozenset(normalise_dn(dn) for dn in dns) for d, dns in listed.items()}

    async def whitelisted_dns(self, domain: str) -> frozenset[str]:
        return self.listed.get(domain, frozenset())


def make_relay(
    certs: Pki,
    port: int,
    whitelist: Whitelist | None = None,
    *,
    crl: bool = False,
    **outbound: object,
) -> SmtpRelay:
    settings = OutboundSettings.model_validate(
        {
            "routes": {DOMAIN: f"127.0.0.1:{port}"},
            "connect_timeout": 5.0,
            "command_timeout": 10.0,
            **outbound,
        }
    )
    tls = TlsSettings(
        cert_file=certs.ours.cert_path,
        key_file=certs.ours.key_path,
        trust_anchors=certs.ca.cert_path,
        crl_file=certs.crl if crl else None,
    )
    return SmtpRelay(
        outbound=settings,
        tls=tls,
        hostname="mx.hopital-demo.test",
        trust=whitelist or Whitelist({DOMAIN: [certs.peer.subject_dn]}),
    )


def outbound(*recipients: OutboundRecipient, body: bytes = BODY, **extra: Any) -> OutboundMessage:
    rcpts = recipients or (OutboundRecipient(f"dr.bernard@{DOMAIN}"),)
    return OutboundMessage(queue_id="q1", sender=SENDER, recipients=rcpts, body=body, **extra)


def sink_for(certs: Pki, issued: pki.Issued, **kwargs: Any) -> SmtpSink:
    context = sink_tls(
        issued.cert_path, issued.key_path, certs.ca.cert_path, require_client_cert=True
    )
    return SmtpSink(context, **kwargs)


@pytest.fixture
async def peer_sink(certs: Pki) -> AsyncIterator[tuple[SmtpSink, int]]:
    sink = sink_for(certs, certs.peer)
    port = await sink.start()
    yield sink, port
    await sink.stop()


async def relay_once(relay: SmtpRelay, message: OutboundMessage | None = None) -> RelayResult:
    try:
        return await relay.send(DOMAIN, message or outbound())
    finally:
        await relay.close()


def codes(result: RelayResult) -> list[tuple[int, str]]:
    return [(r.code, r.enhanced) for r in result.results]


async def test_delivered_over_verified_mutual_tls(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """MSS-TRUST-4 accept path: the peer's DN is listed, our certificate is presented."""
    sink, port = peer_sink
    result = await relay_once(make_relay(certs, port))
    assert codes(result) == [(250, "2.0.0")]
    assert result.results[0].delivered
    assert result.results[0].remote_host == "127.0.0.1"
    assert result.peer_dsn
    [transaction] = sink.delivered
    assert transaction.body == BODY  # dot-stuffing undone by the peer, byte for byte
    assert normalise_dn(transaction.client_dn) == normalise_dn(certs.ours.subject_dn)
    assert sink.commands[:2] == ["EHLO mx.hopital-demo.test", "STARTTLS"]


async def test_dsn_parameters_reach_a_peer_that_offers_dsn(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """MSS-MSG-2: NOTIFY, ORCPT, RET, ENVID passed on (RFC 3461), xtext-encoded."""
    sink, port = peer_sink
    message = outbound(
        OutboundRecipient(
            f"dr.bernard@{DOMAIN}",
            notify=frozenset({"SUCCESS", "FAILURE"}),
            orcpt="rfc822;Dr+Bernard@" + DOMAIN,
        ),
        OutboundRecipient(f"ide.roux@{DOMAIN}", notify=frozenset({"NEVER"})),
        envid="env 42",
        ret="HDRS",
    )
    result = await relay_once(make_relay(certs, port), message)
    assert [r.delivered for r in result.results] == [True, True]
    [transaction] = sink.transactions
    assert transaction.mail == (f"MAIL FROM:<{SENDER}> SIZE={len(BODY)} RET=HDRS ENVID=env+2042")
    assert transaction.rcpts == [
        f"RCPT TO:<dr.bernard@{DOMAIN}> NOTIFY=FAILURE,SUCCESS ORCPT=rfc822;Dr+2BBernard@{DOMAIN}",
        f"RCPT TO:<ide.roux@{DOMAIN}> NOTIFY=NEVER",
    ]


async def test_no_dsn_parameters_to_a_peer_without_dsn(certs: Pki) -> None:
    """RFC 3461 §4: the parameters are only sent to a peer that offers DSN; peer_dsn is False
    so the queue reports 'relayed'."""
    sink = sink_for(certs, certs.peer, extensions=("PIPELINING", "8BITMIME"))
    port = await sink.start()
    try:
        message = outbound(
            OutboundRecipient(f"a@{DOMAIN}", notify=frozenset({"SUCCESS"}), orcpt="rfc822;a@x"),
            envid="e1",
            ret="FULL",
            eight_bit=True,
        )
        result = await relay_once(make_relay(certs, port), message)
    finally:
        await sink.stop()
    assert result.results[0].delivered
    assert not result.peer_dsn
    assert sink.transactions[0].mail == f"MAIL FROM:<{SENDER}> BODY=8BITMIME"
    assert sink.transactions[0].rcpts == [f"RCPT TO:<a@{DOMAIN}>"]


@pytest.mark.parametrize(
    ("name", "detail"),
    [("foreign", "certificate not trusted"), ("expired", "certificate not trusted")],
)
async def test_untrusted_server_certificate_is_refused(certs: Pki, name: str, detail: str) -> None:
    """MSS-TRUST-4: a server certificate from another CA, or expired, gets no mail (4.7.5)."""
    issued = getattr(certs, name)
    sink = sink_for(certs, issued)
    port = await sink.start()
    listed = Whitelist({DOMAIN: [issued.subject_dn]})  # listed: only the chain is wrong
    try:
        result = await relay_once(make_relay(certs, port, listed))
    finally:
        await sink.stop()
    assert codes(result) == [(421, "4.7.5")]
    assert detail in result.results[0].text
    assert not sink.transactions
    assert sink.handshakes == 0


async def test_revoked_server_certificate_is_refused_with_a_crl(certs: Pki) -> None:
    """MSS-TRUST-4: with a CRL configured, a revoked server certificate gets no mail."""
    sink = sink_for(certs, certs.revoked)
    port = await sink.start()
    listed = Whitelist({DOMAIN: [certs.revoked.subject_dn]})
    try:
        result = await relay_once(make_relay(certs, port, listed, crl=True))
    finally:
        await sink.stop()
    assert codes(result) == [(421, "4.7.5")]
    assert "revoked" in result.results[0].text
    assert not sink.transactions


async def test_server_dn_not_listed_for_the_domain_is_refused(certs: Pki) -> None:
    """MSS-TRUST-4/-2: a valid certificate whose DN is not listed for the domain: 4.7.1, temporary
    (the whitelist may be refreshed), and not a byte of the message is sent."""
    sink = sink_for(certs, certs.unlisted)
    port = await sink.start()
    try:
        result = await relay_once(make_relay(certs, port))
    finally:
        await sink.stop()
    assert codes(result) == [(450, "4.7.1")]
    assert "not listed" in result.results[0].text
    assert sink.handshakes == 1
    assert not sink.transactions


async def test_domain_not_on_the_whitelist_gets_nothing(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """MSS-TRUST-4: relay only to whitelisted domains; no connection is even opened."""
    sink, port = peer_sink
    result = await relay_once(make_relay(certs, port, Whitelist({})))
    assert codes(result) == [(450, "4.7.1")]
    assert sink.connections == 0


async def test_no_starttls_offered_means_not_delivered(certs: Pki) -> None:
    """MSS-TRUST-4 fail-closed: no fallback to plain text."""
    sink = SmtpSink(None)
    port = await sink.start()
    try:
        result = await relay_once(make_relay(certs, port))
    finally:
        await sink.stop()
    assert codes(result) == [(421, "4.7.4")]
    assert not any(c.startswith("MAIL") for c in sink.commands)


async def test_connection_refused_is_temporary(certs: Pki) -> None:
    sink = SmtpSink(None)
    port = await sink.start()
    await sink.stop()  # nothing listens there any more
    result = await relay_once(make_relay(certs, port))
    assert codes(result) == [(421, "4.4.1")]
    assert not result.results[0].permanent


async def test_peer_replies_are_passed_through_per_recipient(certs: Pki) -> None:
    """4xx and 5xx at RCPT and at the end of DATA become each recipient's result."""

    def rcpt(address: str) -> str:
        return {"busy": "452 4.2.2 mailbox full", "gone": "550 5.1.1 no such user"}.get(
            address.split("@")[0], "250 2.1.5 ok"
        )

    sink = sink_for(certs, certs.peer, rcpt_reply=rcpt)
    port = await sink.start()
    try:
        message = outbound(*(OutboundRecipient(f"{n}@{DOMAIN}") for n in ("busy", "ok", "gone")))
        result = await relay_once(make_relay(certs, port), message)
    finally:
        await sink.stop()
    assert codes(result) == [(452, "4.2.2"), (250, "2.0.0"), (550, "5.1.1")]
    assert result.results[2].text == "no such user"
    assert result.results[2].permanent


@pytest.mark.parametrize("pipelining", [True, False])
async def test_data_refusal_applies_to_accepted_recipients(certs: Pki, pipelining: bool) -> None:
    extensions = ("PIPELINING", "DSN") if pipelining else ("DSN",)
    sink = sink_for(
        certs,
        certs.peer,
        extensions=extensions,
        rcpt_reply=lambda a: "550 5.1.1 unknown" if a.startswith("x") else "250 ok",
        data_reply=lambda _rcpts: "554 5.6.0 content refused",
    )
    port = await sink.start()
    try:
        message = outbound(OutboundRecipient(f"a@{DOMAIN}"), OutboundRecipient(f"x@{DOMAIN}"))
        result = await relay_once(make_relay(certs, port), message)
    finally:
        await sink.stop()
    assert codes(result) == [(554, "5.6.0"), (550, "5.1.1")]


async def test_all_recipients_refused_sends_no_data(certs: Pki) -> None:
    sink = sink_for(certs, certs.peer, rcpt_reply=lambda _a: "450 4.2.0 try later")
    port = await sink.start()
    try:
        result = await relay_once(make_relay(certs, port))
    finally:
        await sink.stop()
    assert codes(result) == [(450, "4.2.0")]
    assert not sink.delivered


async def test_smtputf8_message_to_a_peer_without_smtputf8_is_permanent(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """RFC 6531 §3.2: 5.6.7, nothing sent."""
    sink, port = peer_sink
    result = await relay_once(make_relay(certs, port), outbound(smtputf8=True))
    assert codes(result) == [(553, "5.6.7")]
    assert result.results[0].permanent
    assert not sink.transactions


async def test_smtputf8_to_a_peer_that_offers_it(certs: Pki) -> None:
    sink = sink_for(certs, certs.peer, extensions=("PIPELINING", "SMTPUTF8", "8BITMIME"))
    port = await sink.start()
    try:
        message = outbound(OutboundRecipient(f"médecin@{DOMAIN}"), smtputf8=True, eight_bit=True)
        result = await relay_once(make_relay(certs, port), message)
    finally:
        await sink.stop()
    assert result.results[0].delivered
    assert sink.transactions[0].mail == f"MAIL FROM:<{SENDER}> BODY=8BITMIME SMTPUTF8"


async def test_message_larger_than_the_peer_size_is_permanent(certs: Pki) -> None:
    sink = sink_for(certs, certs.peer, extensions=("PIPELINING", "SIZE 100"))
    port = await sink.start()
    try:
        result = await relay_once(make_relay(certs, port), outbound(body=b"x" * 200 + b"\r\n"))
    finally:
        await sink.stop()
    assert codes(result) == [(552, "5.3.4")]
    assert not sink.transactions


async def test_one_tls_handshake_for_many_messages(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """Connection reuse: N messages, one connection, one handshake, RSET between messages."""
    sink, port = peer_sink
    relay = make_relay(certs, port)
    try:
        results = [await relay.send(DOMAIN, outbound()) for _ in range(5)]
    finally:
        await relay.close()
    assert all(r.results[0].delivered for r in results)
    assert (sink.connections, sink.handshakes, len(sink.delivered)) == (1, 1, 5)
    assert sink.commands.count("RSET") == 4
    assert sink.commands[-1] == "QUIT"  # closed politely by relay.close()


async def test_concurrency_is_bounded_per_domain(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """At most connections_per_domain connections; 20 concurrent messages share them."""
    sink, port = peer_sink
    relay = make_relay(certs, port, connections_per_domain=3)
    try:
        results = await asyncio.gather(*(relay.send(DOMAIN, outbound()) for _ in range(20)))
    finally:
        await relay.close()
    assert all(r.results[0].delivered for r in results)
    assert len(sink.delivered) == 20
    assert 1 <= sink.connections <= 3


async def test_global_limit_closes_an_idle_connection_of_another_domain(certs: Pki) -> None:
    """max_connections in all: a second domain takes the place of the first one's idle one."""
    sinks = [sink_for(certs, certs.peer) for _ in range(2)]
    ports = [await s.start() for s in sinks]
    other = "autre-pair.test"
    whitelist = Whitelist({DOMAIN: [certs.peer.subject_dn], other: [certs.peer.subject_dn]})
    relay = make_relay(
        certs,
        ports[0],
        whitelist,
        max_connections=1,
        routes={DOMAIN: f"127.0.0.1:{ports[0]}", other: f"127.0.0.1:{ports[1]}"},
    )
    try:
        first = await relay.send(DOMAIN, outbound())
        second = await relay.send(other, outbound(OutboundRecipient(f"a@{other}")))
        assert relay.pool.size == 1
    finally:
        await relay.close()
        for sink in sinks:
            await sink.stop()
    assert first.results[0].delivered
    assert second.results[0].delivered


async def test_idle_connections_are_closed_after_the_idle_timeout(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    sink, port = peer_sink
    relay = make_relay(certs, port, idle_timeout=0.2)
    try:
        await relay.send(DOMAIN, outbound())
        assert relay.pool.idle_count(DOMAIN) == 1
        await _until(lambda: relay.pool.size == 0)
        assert sink.commands[-1] == "QUIT"
        await relay.send(DOMAIN, outbound())  # a fresh connection
    finally:
        await relay.close()
    assert sink.connections == 2


async def test_a_connection_closed_by_the_peer_is_replaced(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """The RSET before reuse finds the dead connection; the message goes on a new one."""
    sink, port = peer_sink
    relay = make_relay(certs, port)
    try:
        await relay.send(DOMAIN, outbound())
        sink.drop_connections()
        result = await relay.send(DOMAIN, outbound())
    finally:
        await relay.close()
    assert result.results[0].delivered
    assert (sink.connections, len(sink.delivered)) == (2, 2)


async def test_tls_is_at_least_1_2(certs: Pki) -> None:
    """MSS-TLS-1: a peer limited to TLS 1.1 gets no mail."""
    context = sink_tls(
        certs.peer.cert_path, certs.peer.key_path, certs.ca.cert_path, require_client_cert=True
    )
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    sink = SmtpSink(context)
    port = await sink.start()
    try:
        result = await relay_once(make_relay(certs, port))
    finally:
        await sink.stop()
    assert codes(result) == [(421, "4.7.5")]
    assert "handshake failed" in result.results[0].text
    assert not sink.transactions
    assert sink.failed_handshakes == 1


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_a_peer_closing_with_421_at_mail_gives_its_reply(certs: Pki) -> None:
    """A 421 ends the session: its reply is each recipient's result, the connection is dropped."""

    sink = sink_for(certs, certs.peer, rcpt_reply=lambda _a: "421 4.3.2 shutting down")
    port = await sink.start()
    relay = make_relay(certs, port)
    try:
        result = await relay.send(DOMAIN, outbound())
        assert relay.pool.size == 0  # not kept for reuse
    finally:
        await relay.close()
        await sink.stop()
    assert codes(result) == [(421, "4.3.2")]
    assert not result.results[0].permanent


def test_works_on_uvloop(certs: Pki) -> None:
    """``mss serve`` runs on uvloop: STARTTLS through StreamWriter.start_tls works there too."""

    async def main() -> tuple[RelayResult, int]:
        sink = sink_for(certs, certs.peer)
        port = await sink.start()
        try:
            return await relay_once(make_relay(certs, port)), sink.handshakes
        finally:
            await sink.stop()

    result, handshakes = uvloop.run(main())
    assert codes(result) == [(250, "2.0.0")]
    assert handshakes == 1


class TwoMx:
    """MX records for DOMAIN: ``first`` (preference 10) then 127.0.0.1 (preference 20)."""

    def __init__(self, first: str) -> None:
        self.first = first

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        return [(20, "127.0.0.1"), (10, self.first)]

    async def has_address(self, name: str) -> bool:
        return True


def mx_relay(certs: Pki, port: int, resolver: TwoMx) -> SmtpRelay:
    """A relay with no static route: MX lookup through ``resolver``, hosts on ``port``."""
    return SmtpRelay(
        outbound=OutboundSettings(port=port, connect_timeout=5.0, command_timeout=10.0),
        tls=TlsSettings(
            cert_file=certs.ours.cert_path,
            key_file=certs.ours.key_path,
            trust_anchors=certs.ca.cert_path,
        ),
        hostname="mx.hopital-demo.test",
        trust=Whitelist({DOMAIN: [certs.peer.subject_dn]}),
        resolver=resolver,
    )


async def test_next_mx_is_tried_when_the_first_refuses_connections(
    certs: Pki, peer_sink: tuple[SmtpSink, int]
) -> None:
    """RFC 5321 §5.1: hosts in preference order; 127.0.0.2 has nothing listening on the port."""
    sink, port = peer_sink
    result = await relay_once(mx_relay(certs, port, TwoMx("127.0.0.2")))
    assert codes(result) == [(250, "2.0.0")]
    assert result.results[0].remote_host == "127.0.0.1"
    assert len(sink.delivered) == 1


async def test_a_host_whose_dn_is_not_listed_is_skipped_for_the_next_mx(certs: Pki) -> None:
    """MSS-TRUST-4: the first MX presents an unlisted certificate and gets nothing; the second,
    listed, gets the message."""
    unlisted = sink_for(certs, certs.unlisted)
    listed = sink_for(certs, certs.peer)
    port = await listed.start()
    # The unlisted sink answers on 127.0.0.3, same port as the listed one on 127.0.0.1.
    unlisted._server = await asyncio.start_server(unlisted._serve, "127.0.0.3", port)
    try:
        result = await relay_once(mx_relay(certs, port, TwoMx("127.0.0.3")))
    finally:
        await unlisted.stop()
        await listed.stop()
    assert codes(result) == [(250, "2.0.0")]
    assert (unlisted.handshakes, len(unlisted.transactions)) == (1, 0)
    assert len(listed.delivered) == 1


async def test_a_peer_that_never_greets_times_out(certs: Pki) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await relay_once(make_relay(certs, port, command_timeout=0.3))
    finally:
        server.close()
        await server.wait_closed()
    assert codes(result) == [(421, "4.4.2")]
    assert "no reply" in result.results[0].text


async def test_a_5xx_greeting_is_temporary(certs: Pki) -> None:
    """A refusal before any transaction is retried (another host or a later attempt may do)."""

    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.3.2 too busy\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(refusing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await relay_once(make_relay(certs, port))
    finally:
        server.close()
        await server.wait_closed()
    assert codes(result) == [(421, "4.3.2")]
    assert "554 too busy" in result.results[0].text
