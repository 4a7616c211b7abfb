"""A test PKI made with ``cryptography``: a CA standing in for IGC-Santé, leaf certificates, CRLs.

The demo and the tests use it; production certificates come from IGC-Santé. Keys are RSA 2048
because operator certificates are RSA (MSS-TLS-1 lists only ``ECDHE-RSA-*`` suites for TLS 1.2).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_SIZE = 2048  # MSS-TLS-1: operator certificates are RSA
CA_DAYS = 3650
LEAF_DAYS = 825
CRL_DAYS = 30
CLOCK_SKEW = timedelta(minutes=5)
DEFAULT_CA_NAME = "MSS Test CA (IGC-Santé stand-in)"


@dataclass(frozen=True)
class Issued:
    """A certificate (PEM, chain appended for leaves) and its private key (PKCS8 PEM) on disk."""

    cert_path: Path
    key_path: Path
    subject_dn: str

    def certificate(self) -> x509.Certificate:
        """The first certificate of ``cert_path`` (the leaf, or the CA itself)."""
        return x509.load_pem_x509_certificates(self.cert_path.read_bytes())[0]

    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError(f"{self.key_path}: not an RSA key")
        return key


def create_ca(
    dir: Path,
    common_name: str = DEFAULT_CA_NAME,
    *,
    name: str = "ca",
    organisation: str = "MSS Test PKI",
    days: int = CA_DAYS,
) -> Issued:
    """A self-signed CA in ``dir`` (``<name>.pem``, ``<name>.key``); call again for a foreign CA."""
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = datetime.now(UTC) - CLOCK_SKEW
    builder = (
        _base_builder(subject, subject, key.public_key(), start, start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    cert = builder.sign(key, hashes.SHA256())
    return _write(dir, name, cert, key, chain=())


def issue(
    ca: Issued,
    dir: Path,
    name: str,
    *,
    common_name: str,
    organisation: str,
    organisational_unit: str | None = None,
    state: str | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = True,
    client: bool = True,
    days: int = LEAF_DAYS,
    not_before: datetime | None = None,
) -> Issued:
    """A leaf certificate signed by ``ca``, written to ``<name>.pem`` (with the CA) and ``.key``.

    The subject reads ``CN=…,OU=…,O=…,ST=…,C=FR`` in RFC 4514 form, as DNs do in the ANS whitelist
    (MSS-TRUST-1). Pass ``not_before`` in the past and a small ``days`` for an expired certificate.
    """
    ca_cert, ca_key = ca.certificate(), ca.private_key()
    key = _new_key()
    start = not_before if not_before is not None else datetime.now(UTC) - CLOCK_SKEW
    subject = _leaf_subject(common_name, organisation, organisational_unit, state)
    end = start + timedelta(days=days)
    builder = (
        _base_builder(subject, ca_cert.subject, key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(_extended_key_usage(server=server, client=client), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    names = _subject_alt_names(dns_names, ip_addresses)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return _write(dir, name, cert, key, chain=(ca_cert,))


def create_crl(
    ca: Issued, path: Path, revoked: Sequence[Issued] = (), *, days: int = CRL_DAYS
) -> Path:
    """A PEM CRL signed by ``ca`` listing the serial numbers of ``revoked``."""
    ca_cert, ca_key = ca.certificate(), ca.private_key()
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - CLOCK_SKEW)
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    for item in revoked:
        builder = builder.add_revoked_certificate(_revoked_entry(item, now))
    crl = builder.sign(ca_key, hashes.SHA256())
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return path


def _revoked_entry(item: Issued, now: datetime) -> x509.RevokedCertificate:
    return (
        x509.RevokedCertificateBuilder()
        .serial_number(item.certificate().serial_number)
        .revocation_date(now - CLOCK_SKEW)
        .build()
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _leaf_subject(
    common_name: str, organisation: str, unit: str | None, state: str | None
) -> x509.Name:
    # Built from C to CN so that the RFC 4514 string (reversed order) reads CN=…,OU=…,O=…,C=FR.
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    if state:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, state))
    attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _extended_key_usage(*, server: bool, client: bool) -> x509.ExtendedKeyUsage:
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if not usages:
        raise ValueError("a leaf certificate needs server or client usage")
    return x509.ExtendedKeyUsage(usages)


def _subject_alt_names(
    dns_names: Sequence[str], ip_addresses: Sequence[str]
) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names.extend(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses)
    return names


def _write(
    dir: Path,
    name: str,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    *,
    chain: Sequence[x509.Certificate],
) -> Issued:
    dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = dir / f"{name}.pem", dir / f"{name}.key"
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain))
    cert_path.write_bytes(pem)
    _write_private(key_path, _pkcs8(key))
    return Issued(cert_path, key_path, cert.subject.rfc4514_string())


def _pkcs8(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (0600), even if the file existed."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)
