"""DKIM on the MX (RFC 6376 §6, RFC 8601 §5), through the real protocol: a peer operator's signed
message is stored with our ``Authentication-Results``; keys come from a DNS server on loopback
(the operator's ``dkim.nameservers`` setting, dnspython underneath).

MSS-MSG-1: the message is stored byte for byte under ``Return-Path``, ``Received`` and our
``Authentication-Results``; the one removal is an ``Authentication-Results`` claiming our
authserv-id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mss import demo
from mss.dkim import DkimKey, DkimSigner, dns_record, generate_key
from tests.protocol.harness import RunningOperator
from tests.protocol.mail import inbox, message, mx_client, submission_client
from tests.protocol.test_dkim_opendkim import txt_server

PEER_DOMAIN = "operateur-pair.mssante.fr"
PEER_SENDER = f"dr.bernard@{PEER_DOMAIN}"
SELECTOR = "pair2026"
AUTHSERV = demo.HOSTNAME
RECORDS: dict[str, str] = {}


@pytest.fixture(scope="module")
def peer_key() -> DkimKey:
    key = generate_key()
    name, value = dns_record(SELECTOR, PEER_DOMAIN, key)
    RECORDS[name] = value
    return key


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, peer_key: DkimKey
) -> Iterator[RunningOperator]:
    with txt_server(RECORDS, "127.0.0.1", 0) as dns_port:
        operator = RunningOperator(tmp_path_factory.mktemp("demo"))
        dkim = operator.settings.dkim.model_copy(
            update={"nameservers": [f"127.0.0.1:{dns_port}"], "dns_timeout": 2.0}
        )
        operator.settings = operator.settings.model_copy(update={"dkim": dkim})
        operator.start()
        yield operator
        operator.stop()


def doctor(running: RunningOperator) -> str:
    return str(running.account("PER", rpps="10001234567")["address"])


def deliver_mx(running: RunningOperator, raw: bytes) -> bytes:
    """Send ``raw`` through the MX as the peer operator; the stored copy."""
    to = doctor(running)
    before = len(inbox(running, to))
    with mx_client(running) as client:
        assert client.sendmail(PEER_SENDER, [to], raw) == {}
    stored = inbox(running, to)
    assert len(stored) == before + 1
    return stored[-1]


def our_results(stored: bytes) -> list[bytes]:
    """Our Authentication-Results fields (unfolded) in the stored header section."""
    head = stored.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")
    return [
        line
        for line in head.split(b"\r\n")
        if re.match(rb"(?i)authentication-results:\s*" + re.escape(AUTHSERV.encode()) + rb";", line)
    ]


def signed_by_peer(key: DkimKey, **headers: str) -> bytes:
    raw = message(PEER_SENDER, "destinataire@test.invalid", X_MSS_INS="O", **headers)
    return DkimSigner(SELECTOR, {PEER_DOMAIN: key}).sign(raw, PEER_DOMAIN)


def test_signed_message_from_peer_is_stored_with_dkim_pass(
    running: RunningOperator, peer_key: DkimKey
) -> None:
    """MSS-MSG-1: under our trace and results fields, the message is the one sent."""
    sent = signed_by_peer(peer_key)
    stored = deliver_mx(running, sent)
    assert stored.endswith(sent)
    trace = stored[: -len(sent)]
    assert trace.startswith(b"Return-Path: <" + PEER_SENDER.encode() + b">\r\nReceived: ")
    (results,) = our_results(stored)
    assert b" dkim=pass " in results
    assert f"header.d={PEER_DOMAIN}".encode() in results
    assert f"header.s={SELECTOR}".encode() in results
    assert trace.index(b"Received: ") < trace.index(b"Authentication-Results: ")


def test_tampered_message_is_stored_with_dkim_fail(
    running: RunningOperator, peer_key: DkimKey
) -> None:
    sent = signed_by_peer(peer_key).replace(b"X-MSS-INS: O", b"X-MSS-INS: N")
    stored = deliver_mx(running, sent)
    (results,) = our_results(stored)
    assert b" dkim=fail " in results
    assert stored.endswith(sent)  # a failed signature is reported, the message still delivered


def test_unsigned_message_is_stored_with_dkim_none(running: RunningOperator) -> None:
    stored = deliver_mx(running, message(PEER_SENDER, "x@test.invalid"))
    (results,) = our_results(stored)
    assert results.rstrip().endswith(b" dkim=none")


def test_signature_without_published_key_is_permerror(running: RunningOperator) -> None:
    other = generate_key()
    raw = message(PEER_SENDER, "x@test.invalid")
    sent = DkimSigner("absent", {PEER_DOMAIN: other}).sign(raw, PEER_DOMAIN)
    (results,) = our_results(deliver_mx(running, sent))
    assert b" dkim=permerror " in results


def test_forged_results_with_our_authserv_id_are_removed_others_kept(
    running: RunningOperator,
) -> None:
    """RFC 8601 §5: a sender cannot forge our verdict; another server's results stay."""
    forged = f"Authentication-Results: {AUTHSERV.upper()}; dkim=pass header.d=faux.test\r\n"
    theirs = f"Authentication-Results: mx.{PEER_DOMAIN}; dkim=pass header.d=x.test\r\n"
    raw = message(PEER_SENDER, "x@test.invalid")
    sent = forged.encode() + theirs.encode() + raw
    stored = deliver_mx(running, sent)
    assert stored.endswith(theirs.encode() + raw)  # only the forged field went
    assert b"faux.test" not in stored
    (results,) = our_results(stored)
    assert results.rstrip().endswith(b" dkim=none")


def test_submission_strips_forged_results_and_adds_none(running: RunningOperator) -> None:
    """Submission mail is our users': not verified, but forged results are removed."""
    sender = running.account("PER", rpps="10001234567")
    to = doctor(running)
    forged = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=faux.test\r\n".encode()
    raw = message(sender["address"], to)
    before = len(inbox(running, to))
    with submission_client(running, sender["address"], sender["password"]) as client:
        assert client.sendmail(sender["address"], [to], forged + raw) == {}
    stored = inbox(running, to)
    assert len(stored) == before + 1
    assert stored[-1].endswith(raw)
    assert our_results(stored[-1]) == []
    assert b"faux.test" not in stored[-1]


def test_key_lookup_is_real_dns(running: RunningOperator, peer_key: DkimKey) -> None:
    """The setting reached dnspython: with the record withdrawn, the same message fails."""
    name = f"{SELECTOR}._domainkey.{PEER_DOMAIN}"
    saved = RECORDS.pop(name)
    try:
        (results,) = our_results(deliver_mx(running, signed_by_peer(peer_key)))
    finally:
        RECORDS[name] = saved
    assert b" dkim=permerror " in results
    assert Path(running.folder).is_dir()
