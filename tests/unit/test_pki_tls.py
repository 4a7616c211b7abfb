"""The test PKI and the TLS contexts, over real TLS on 127.0.0.1 (MSS-TLS-1, MSS-TRUST-3)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import stat
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from config.settings import TlsSettings
from mss.pki import Issued, create_ca, create_crl, issue
from mss.tls import (
    TLS12_CIPHERS,
    PeerCertificate,
    TlsConfigError,
    client_context,
    peer_certificate,
    server_context,
)

MSS_TLS12_SUITES = set(TLS12_CIPHERS.split(":"))
PEER_DN = "CN=mx.peer.test,OU=341518515600056,O=PEER OPERATOR,C=FR"


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    peer: Issued
    revoked: Issued
    expired: Issued
    foreign: Issued
    crl: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = create_ca(root)
    foreign_ca = create_ca(root / "foreign", "Foreign CA")

    def operator(
        name: str, authority: Issued = ca, not_before: datetime | None = None, days: int = 825
    ) -> Issued:
        return issue(
            authority,
            root,
            name,
            common_name=f"mx.{name}.test",
            organisation=f"{name.upper()} OPERATOR",
            organisational_unit="341518515600056",
            server=False,
            not_before=not_before,
            days=days,
        )

    server = issue(
        ca,
        root,
        "server",
        common_name="mss.localhost",
        organisation="MSS TEST",
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )
    revoked = operator("revoked")
    past = datetime.now(UTC) - timedelta(days=30)
    return Pki(
        ca=ca,
        server=server,
        peer=operator("peer"),
        revoked=revoked,
        expired=operator("expired", not_before=past, days=1),
        foreign=operator("foreign", foreign_ca),
        crl=create_crl(ca, root / "crl.pem", [revoked]),
    )


def settings(pki: Pki, **changes: object) -> TlsSettings:
    values: dict[str, object] = {
        "cert_file": pki.server.cert_path,
        "key_file": pki.server.key_path,
        "trust_anchors": pki.ca.cert_path,
    }
    values.update(changes)
    return TlsSettings.model_validate(values)


def client(
    pki: Pki,
    identity: Issued | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    context = client_context(
        trust_anchors=pki.ca.cert_path,
        cert_file=identity.cert_path if identity else None,
        key_file=identity.key_path if identity else None,
        min_version=min_version,
    )
    if maximum_version is not None:
        context.maximum_version = maximum_version
    return context


# --- the PKI -----------------------------------------------------------------------------------


def test_leaf_subject_reads_like_a_whitelist_dn(pki: Pki) -> None:
    """MSS-TRUST-1: CN, OU, O, C in the order the ANS whitelist writes them."""
    assert pki.peer.subject_dn == PEER_DN
    assert pki.peer.certificate().subject.rfc4514_string() == PEER_DN


def test_state_is_placed_between_organisation_and_country(tmp_path: Path, pki: Pki) -> None:
    leaf = issue(
        pki.ca, tmp_path, "st", common_name="a.test", organisation="O", state="Gironde (33)"
    )
    assert leaf.subject_dn == "CN=a.test,O=O,ST=Gironde (33),C=FR"


def test_leaf_file_holds_the_chain_and_a_private_key_only_its_owner_reads(pki: Pki) -> None:
    chain = x509.load_pem_x509_certificates(pki.server.cert_path.read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == [
        pki.server.subject_dn,
        pki.ca.subject_dn,
    ]
    assert stat.S_IMODE(pki.server.key_path.stat().st_mode) == 0o600
    assert pki.server.key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_ca_and_leaf_extensions(pki: Pki) -> None:
    """MSS-TLS-1: RSA 2048; the CA signs certificates and CRLs; usages as asked."""
    ca = pki.ca.certificate()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert pki.server.private_key().key_size == 2048
    peer_usages = pki.peer.certificate().extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(peer_usages.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    names = pki.server.certificate().extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]


def test_expired_and_foreign_certificates(pki: Pki) -> None:
    assert pki.expired.certificate().not_valid_after_utc < datetime.now(UTC)
    assert pki.foreign.certificate().issuer != pki.ca.certificate().subject


def test_crl_lists_the_revoked_serial_and_is_signed_by_the_ca(pki: Pki) -> None:
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.is_signature_valid(pki.ca.private_key().public_key())
    serial = pki.revoked.certificate().serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    valid = pki.peer.certificate().serial_number
    assert crl.get_revoked_certificate_by_serial_number(valid) is None


# --- contexts ----------------------------------------------------------------------------------


def test_server_offers_exactly_the_four_tls12_suites(pki: Pki) -> None:
    """MSS-TLS-1: the TLS 1.2 cipher list is exactly the Référentiel's four."""
    context = server_context(settings(pki), request_client_cert=True)
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == MSS_TLS12_SUITES
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.options & ssl.OP_NO_COMPRESSION


def test_submission_context_asks_no_client_certificate(pki: Pki) -> None:
    context = server_context(settings(pki), request_client_cert=False)
    assert context.verify_mode == ssl.CERT_NONE


def test_client_context_refuses_a_minimum_below_tls12(pki: Pki) -> None:
    """MSS-TLS-1: never below TLS 1.2."""
    with pytest.raises(TlsConfigError, match=r"TLS 1\.2"):
        client(pki, min_version=ssl.TLSVersion.TLSv1_1)


@pytest.mark.parametrize("field", ["cert_file", "key_file", "trust_anchors", "crl_file"])
def test_missing_file_is_a_one_line_error_naming_it(pki: Pki, tmp_path: Path, field: str) -> None:
    missing = tmp_path / f"missing-{field}.pem"
    with pytest.raises(TlsConfigError) as caught:
        server_context(settings(pki, **{field: missing}), request_client_cert=True)
    assert str(missing) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_certificate_is_a_one_line_error_naming_it(pki: Pki, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError) as caught:
        server_context(settings(pki, cert_file=garbage), request_client_cert=False)
    assert str(garbage) in str(caught.value)
    assert "\n" not in str(caught.value)


# --- real handshakes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    peer: PeerCertificate | None
    version: str | None
    cipher: str


@contextlib.asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[tuple[int, list[Seen]]]:
    """A server on 127.0.0.1:0 that notes each established session, says ``ok`` and hangs up."""
    seen: list[Seen] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = writer.get_extra_info("ssl_object")
        seen.append(Seen(peer_certificate(tls), tls.version(), tls.cipher()[0]))
        writer.write(b"ok\n")
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


async def session_works(port: int, context: ssl.SSLContext) -> bool:
    """True if the handshake succeeds and the server's ``ok`` arrives."""
    async with asyncio.timeout(10):
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost"
            )
        except (ssl.SSLError, ConnectionError):
            return False
        try:
            line = await reader.readline()  # TLS 1.3: a refused client cert shows up here
        except (ssl.SSLError, ConnectionError):
            line = b""
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()
        return line == b"ok\n"


async def test_server_sees_the_subject_dn_of_a_ca_signed_client(pki: Pki) -> None:
    """MSS-TRUST-3: an operator certificate chaining to the anchors is accepted and readable."""
    async with tls_server(server_context(settings(pki), request_client_cert=True)) as (port, seen):
        assert await session_works(port, client(pki, pki.peer))
    peer = seen[0].peer
    assert peer is not None
    assert peer.subject_dn == PEER_DN
    assert peer.issuer_dn == pki.ca.subject_dn
    assert peer.serial == pki.peer.certificate().serial_number
    assert peer.not_after == pki.peer.certificate().not_valid_after_utc


async def test_client_without_certificate_connects_and_server_sees_none(pki: Pki) -> None:
    """MSS-TRUST-3: no certificate is not a handshake failure; SMTP refuses it with 5.7.1 later."""
    async with tls_server(server_context(settings(pki), request_client_cert=True)) as (port, seen):
        assert await session_works(port, client(pki))
    assert seen == [Seen(None, seen[0].version, seen[0].cipher)]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("who", ["foreign", "revoked", "expired"])
async def test_untrusted_client_certificate_fails_the_handshake(
    pki: Pki, who: str, version: ssl.TLSVersion
) -> None:
    """MSS-TRUST-3: foreign CA, revoked (CRL) or expired certificates never get a session."""
    tls = settings(pki, crl_file=pki.crl)
    identity: Issued = getattr(pki, who)
    async with tls_server(server_context(tls, request_client_cert=True)) as (port, seen):
        assert await session_works(port, client(pki, pki.peer, maximum_version=version))
        assert not await session_works(port, client(pki, identity, maximum_version=version))
    assert [s.peer.subject_dn if s.peer else None for s in seen] == [PEER_DN]


def _legacy(protocol: int) -> ssl.SSLContext:
    """A context speaking TLS 1.0-1.1 only (OpenSSL 3 needs security level 0 for that)."""
    context = ssl.SSLContext(protocol)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


async def test_tls11_client_fails(pki: Pki) -> None:
    """MSS-TLS-1: a client offering at most TLS 1.1 gets no session from our server."""
    legacy_client = _legacy(ssl.PROTOCOL_TLS_CLIENT)
    legacy_client.load_verify_locations(pki.ca.cert_path)
    async with tls_server(server_context(settings(pki), request_client_cert=True)) as (port, seen):
        assert not await session_works(port, legacy_client)
    assert seen == []
    # Control: the same client does get TLS 1.1 from a permissive server, so the refusal above
    # comes from our settings and not from a local OpenSSL unable to speak TLS 1.1.
    permissive = _legacy(ssl.PROTOCOL_TLS_SERVER)
    permissive.load_cert_chain(pki.server.cert_path, pki.server.key_path)
    async with tls_server(permissive) as (port, seen):
        assert await session_works(port, legacy_client)
    assert [s.version for s in seen] == ["TLSv1.1"]


async def test_tls12_client_fails_when_minimum_is_tls13(pki: Pki) -> None:
    """MSS-TLS-1: the ``min_version`` setting is applied."""
    tls = settings(pki, min_version="TLSv1.3")
    async with tls_server(server_context(tls, request_client_cert=False)) as (port, seen):
        assert not await session_works(port, client(pki, maximum_version=ssl.TLSVersion.TLSv1_2))
        assert await session_works(port, client(pki))
    assert [s.version for s in seen] == ["TLSv1.3"]


async def test_tls12_negotiates_one_of_the_four_suites(pki: Pki) -> None:
    """MSS-TLS-1: with TLS 1.2 forced on the client, the suite is one of the Référentiel's."""
    async with tls_server(server_context(settings(pki), request_client_cert=True)) as (port, seen):
        assert await session_works(port, client(pki, maximum_version=ssl.TLSVersion.TLSv1_2))
    assert seen[0].version == "TLSv1.2"
    assert seen[0].cipher in MSS_TLS12_SUITES


async def test_tls12_client_with_only_other_suites_fails(pki: Pki) -> None:
    """MSS-TLS-1: a TLS 1.2 suite outside the four (here CHACHA20) is not negotiated."""
    context = client(pki, maximum_version=ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305:AES128-GCM-SHA256")
    async with tls_server(server_context(settings(pki), request_client_cert=False)) as (port, seen):
        assert not await session_works(port, context)
    assert seen == []


async def test_client_context_verifies_the_server_against_the_anchors(
    pki: Pki, tmp_path: Path
) -> None:
    """MSS-TRUST-4: our client refuses a server whose certificate is not from the anchors."""
    foreign_ca = create_ca(tmp_path, "Other CA")
    async with tls_server(server_context(settings(pki), request_client_cert=False)) as (port, seen):
        other = client_context(trust_anchors=foreign_ca.cert_path)
        assert not await session_works(port, other)
    assert seen == []


def test_peer_certificate_of_nothing_is_none() -> None:
    assert peer_certificate(None) is None
