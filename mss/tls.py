"""TLS contexts for our listeners and clients, and the peer certificate as the session sees it.

MSS-TLS-1: TLS 1.2 or 1.3 only; with TLS 1.2 exactly four ECDHE-RSA suites (TLS 1.3 suites stay the
OpenSSL defaults). MSS-TRUST-3: the MX listener asks for a client certificate that must chain to the
trust anchors and not be revoked; a client without one still completes the handshake so that the
SMTP session can refuse it with a clear ``5.7.1``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from config.settings import TlsSettings

# MSS-TLS-1 (Référentiel #2 ECO.1.1.3), OpenSSL names, in the server's order of preference.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-RSA-AES128-SHA256",
    ]
)
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


class TlsConfigError(Exception):
    """A certificate, key, anchor or CRL file that cannot be used; ``str()`` is one line."""


@dataclass(frozen=True)
class PeerCertificate:
    """What the session needs of the peer's certificate; ``subject_dn`` is raw RFC 4514."""

    subject_dn: str
    issuer_dn: str
    serial: int
    not_after: datetime


def server_context(tls: TlsSettings, *, request_client_cert: bool) -> ssl.SSLContext:
    """A server context; ``request_client_cert`` for the MX listener (MSS-TRUST-3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context, _minimum(tls.min_version))
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_chain(context, tls.cert_file, tls.key_file)
    if request_client_cert:
        _verify_clients(context, tls.trust_anchors, tls.crl_file)
    return context


def client_context(
    *,
    trust_anchors: Path,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    min_version: ssl.TLSVersion | str = ssl.TLSVersion.TLSv1_2,
    crl_file: Path | None = None,
) -> ssl.SSLContext:
    """A client context checking the server against ``trust_anchors`` (and ``crl_file`` when
    given: the server's certificate must not be revoked, MSS-TRUST-4); our cert if given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server and its host name
    _harden(context, _minimum(min_version))
    _load(context.load_verify_locations, "trust anchors", trust_anchors)
    if crl_file is not None:
        _load(context.load_verify_locations, "CRL", crl_file)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if cert_file is not None:
        _load_chain(context, cert_file, key_file)
    return context


def peer_certificate(
    ssl_object: ssl.SSLObject | ssl.SSLSocket | None,
) -> PeerCertificate | None:
    """The peer's certificate after the handshake, or None when it presented none."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    return PeerCertificate(
        subject_dn=cert.subject.rfc4514_string(),
        issuer_dn=cert.issuer.rfc4514_string(),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )


def _minimum(version: str | ssl.TLSVersion) -> ssl.TLSVersion:
    minimum = _VERSIONS.get(version) if isinstance(version, str) else version
    if minimum is None or minimum < ssl.TLSVersion.TLSv1_2:
        raise TlsConfigError(f"TLS minimum version {version} is below TLS 1.2 (MSS-TLS-1)")
    return minimum


def _harden(context: ssl.SSLContext, minimum: ssl.TLSVersion) -> None:
    context.minimum_version = minimum  # MSS-TLS-1: never below TLS 1.2
    context.set_ciphers(TLS12_CIPHERS)  # MSS-TLS-1: TLS 1.2 suites; TLS 1.3 ones are unaffected
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION


def _verify_clients(context: ssl.SSLContext, anchors: Path, crl_file: Path | None) -> None:
    # MSS-TRUST-3: a certificate, when presented, must chain to the anchors and not be revoked;
    # OPTIONAL so that a client without one reaches SMTP and gets a clear 5.7.1 there.
    context.verify_mode = ssl.CERT_OPTIONAL
    _load(context.load_verify_locations, "trust anchors", anchors)
    if crl_file is not None:
        _load(context.load_verify_locations, "CRL", crl_file)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF


def _load_chain(context: ssl.SSLContext, cert_file: Path, key_file: Path | None) -> None:
    _require_file("certificate", cert_file)
    if key_file is not None:
        _require_file("private key", key_file)
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ValueError) as error:
        files = f"{cert_file}" if key_file is None else f"{cert_file} / {key_file}"
        raise TlsConfigError(f"cannot load certificate and key {files}: {_reason(error)}") from None


def _load(loader: Callable[[Path], None], what: str, path: Path) -> None:
    _require_file(what, path)
    try:
        loader(path)
    except (OSError, ValueError) as error:
        raise TlsConfigError(f"cannot load {what} {path}: {_reason(error)}") from None


def _require_file(what: str, path: Path) -> None:
    if not path.is_file():
        raise TlsConfigError(f"{what} file not found: {path}")


def _reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__
