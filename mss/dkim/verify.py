"""Verifying DKIM on inbound mail (RFC 6376 §6) with dkimpy, keys fetched by an injected async
lookup, the CPU work off the event loop; the outcome as RFC 8601 results.

Outcomes (RFC 8601 §2.7.1): ``pass``; ``fail`` (body hash or signature mismatch); ``neutral``
(the signature field itself is malformed); ``temperror`` (the key could not be fetched now);
``permerror`` (no key, a malformed or revoked key, several keys, rsa-sha1). No signature: no result,
rendered as ``dkim=none``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import dkim
import dkim.util
import dns.asyncresolver
import dns.exception
import dns.resolver
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import InvalidCanonicalizationPolicyError

from mss.dkim._lib import (
    QUIET_LOGGER,
    BareLineEnd,
    body_hash,
    has_bare_line_end,
    header_end,
    header_fields,
)
from mss.dkim.keys import DNS_NAME, MIN_RSA_BITS, DkimError
from mss.dkim.results import (
    DkimResult,
    DkimStatus,
    authentication_results,
    strip_forged_results,
)

__all__ = [
    "DkimResult",
    "DkimStatus",
    "TxtLookup",
    "authentication_results",
    "dns_lookup",
    "strip_forged_results",
    "verify",
]

log = logging.getLogger(__name__)

TxtLookup = Callable[[str], Awaitable[list[bytes] | None]]
"""``name -> TXT records`` (each one's strings joined); ``[]`` when the name has none
(NXDOMAIN, NODATA); ``None`` when no answer could be had now (timeout, SERVFAIL)."""

MAX_SIGNATURES = 5  # a hostile sender must not make us do unbounded DNS and RSA work
DNS_TIMEOUT = 5.0
HEADER_B_CHARS = 8  # RFC 6008 §4: enough of b= to tell signatures apart
ACCEPTED_ALGORITHMS = (b"rsa-sha256", b"ed25519-sha256")  # RFC 8301 §3.1: never rsa-sha1
_SIGNATURE = b"dkim-signature"


@dataclass(frozen=True)
class _Signature:
    index: int
    domain: str
    selector: str
    header_b: str


async def verify(message: bytes, *, lookup: TxtLookup) -> list[DkimResult]:
    """One result per ``DKIM-Signature`` field (the first :data:`MAX_SIGNATURES`), top first."""
    try:
        fields = header_fields(message)
    except DkimError:
        return [DkimResult(DkimStatus.PERMERROR, None, None, "malformed header section")]
    # the same test as dkimpy's, so that index i here is dkimpy's i-th signature
    values = [value for name, value in fields if name.lower() == _SIGNATURE]
    checks = [_verify_one(message, i, v, lookup) for i, v in enumerate(values[:MAX_SIGNATURES])]
    return list(await asyncio.gather(*checks))


async def _verify_one(message: bytes, index: int, value: bytes, lookup: TxtLookup) -> DkimResult:
    parsed = _parse_signature(index, value)
    if isinstance(parsed, DkimResult):
        return parsed
    sig = parsed
    record = await _fetch_key(sig, lookup)
    if isinstance(record, DkimResult):
        return record
    status, reason = await asyncio.to_thread(_check, message, index, record)
    return DkimResult(status, sig.domain, sig.selector, reason, sig.header_b)


def _parse_signature(index: int, value: bytes) -> _Signature | DkimResult:
    """The tags we need, or ``neutral`` when the field is malformed (RFC 8601 §2.7.1)."""
    try:
        tags: dict[bytes, bytes] = dkim.util.parse_tag_value(value)
    except dkim.util.InvalidTagValueList:
        return DkimResult(DkimStatus.NEUTRAL, None, None, "malformed signature")
    domain = _dns_name(tags.get(b"d", b""))
    selector = _dns_name(tags.get(b"s", b""))
    if domain is None or selector is None:
        return DkimResult(DkimStatus.NEUTRAL, domain, selector, "invalid d= or s=")
    header_b = re.sub(rb"\s+", b"", tags.get(b"b", b""))[:HEADER_B_CHARS].decode("ascii", "replace")
    try:
        dkim.validate_signature_fields(tags)
    except dkim.ValidationError:
        return DkimResult(DkimStatus.NEUTRAL, domain, selector, "invalid signature tags", header_b)
    if tags.get(b"a", b"").strip().lower() not in ACCEPTED_ALGORITHMS:
        return DkimResult(DkimStatus.PERMERROR, domain, selector, "algorithm refused", header_b)
    return _Signature(index, domain, selector, header_b)


def _dns_name(raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").strip()
    return text if DNS_NAME.fullmatch(text) else None


async def _fetch_key(sig: _Signature, lookup: TxtLookup) -> bytes | DkimResult:
    """The one key record for the signature, or the ``temperror``/``permerror`` result."""
    name = f"{sig.selector}._domainkey.{sig.domain}"
    try:
        records = await lookup(name)
    except Exception:  # a broken resolver must not turn into a server error for the sender
        log.warning("dkim key lookup raised name=%s", name, exc_info=True)
        records = None
    if records is None:
        return _key_result(sig, DkimStatus.TEMPERROR, "key lookup failed")
    if not records:
        return _key_result(sig, DkimStatus.PERMERROR, "no key for signature")
    if len(records) > 1:  # RFC 6376 §3.6.2.2: several records give undefined results
        return _key_result(sig, DkimStatus.PERMERROR, "several key records")
    try:
        _pk, size, kind, _tlsrpt = dkim.evaluate_pk(name, records[0])
    except (dkim.DKIMException, ValueError):
        return _key_result(sig, DkimStatus.PERMERROR, "unusable key record")
    if size is None or (kind == b"rsa" and size < MIN_RSA_BITS):
        return _key_result(sig, DkimStatus.PERMERROR, "unusable key record")
    return records[0]


def _key_result(sig: _Signature, status: DkimStatus, reason: str) -> DkimResult:
    return DkimResult(status, sig.domain, sig.selector, reason, sig.header_b)


def _check(message: bytes, index: int, record: bytes) -> tuple[DkimStatus, str]:
    """The body hash then the header signature (CPU-bound: run in a worker thread).

    dkimpy parses the header section, the signature and the key and canonicalises the header;
    the body goes through :func:`body_hash` (dkimpy's own canonicalisation rewrites every space
    of the body holding the GIL: 10 s for 25 MB, the event loop starved meanwhile) and the
    signature is checked by OpenSSL. A message with bare line ends (refused at DATA on the MX,
    MSS-MSG-5) goes through dkimpy's whole verifier, which normalises them."""
    head_end = header_end(message)
    if has_bare_line_end(message[: head_end + 2]):
        return _check_dkimpy(message, index, record)
    fields = header_fields(message)
    name, value = [(n, v) for n, v in fields if n.lower() == _SIGNATURE][index]
    try:
        tags: dict[bytes, bytes] = dkim.util.parse_tag_value(value)
        policy = dkim.CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
        if not _body_hash_matches(message, policy, tags):
            return DkimStatus.FAIL, "body hash mismatch"
        digest = _header_hash(fields, policy, tags, (name, value))
        signature = base64.b64decode(re.sub(rb"\s+", b"", tags[b"b"]), validate=True)
    except BareLineEnd:
        return _check_dkimpy(message, index, record)
    except (dkim.util.InvalidTagValueList, InvalidCanonicalizationPolicyError, ValueError):
        return DkimStatus.NEUTRAL, "signature not verifiable"
    return _signature_status(record, digest, signature)


def _body_hash_matches(
    message: bytes, policy: dkim.CanonicalizationPolicy, tags: dict[bytes, bytes]
) -> bool:
    """Raises :class:`BareLineEnd` (the caller falls back to dkimpy)."""
    limit = int(tags[b"l"]) if b"l" in tags else None
    relaxed = policy.body_algorithm.name == b"relaxed"
    digest = body_hash(message, header_end(message) + 2, relaxed=relaxed, limit=limit)
    expected = base64.b64decode(re.sub(rb"\s+", b"", tags[b"bh"]), validate=True)
    return digest == expected


def _header_hash(
    fields: list[tuple[bytes, bytes]],
    policy: dkim.CanonicalizationPolicy,
    tags: dict[bytes, bytes],
    signature_field: tuple[bytes, bytes],
) -> bytes:
    """RFC 6376 §3.7, with dkimpy's field selection (an extra ``from`` as dkimpy adds)."""
    include = [name.lower() for name in re.split(rb"\s*:\s*", tags[b"h"])]
    if b"from" in include:
        include.append(b"from")
    hasher = hashlib.sha256()
    canonical = policy.canonicalize_headers(fields)
    dkim.hash_headers(hasher, policy, canonical, include, signature_field, tags)
    return hasher.digest()


def _signature_status(record: bytes, digest: bytes, signature: bytes) -> tuple[DkimStatus, str]:
    try:
        public, _size, kind, for_tlsrpt = dkim.evaluate_pk(b"", record)
    except (dkim.DKIMException, ValueError):
        return DkimStatus.PERMERROR, "unusable key record"
    if for_tlsrpt:
        return DkimStatus.PERMERROR, "key not for email"
    try:
        if kind == b"ed25519":
            key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(public))
            key.verify(signature, digest)  # RFC 8463 §3: the hash is what is signed
        else:
            numbers = rsa.RSAPublicNumbers(public["publicExponent"], public["modulus"])
            numbers.public_key().verify(
                signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())
            )
    except InvalidSignature:
        return DkimStatus.FAIL, "signature mismatch"
    except ValueError:
        return DkimStatus.PERMERROR, "unusable key record"
    return DkimStatus.PASS, ""


def _check_dkimpy(message: bytes, index: int, record: bytes) -> tuple[DkimStatus, str]:
    """dkimpy's whole verifier (pure-Python canonicalisation and RSA)."""

    def from_record(_name: Any, timeout: Any = None) -> bytes:
        return record

    checker = dkim.DKIM(message, logger=QUIET_LOGGER, minkey=MIN_RSA_BITS)
    try:
        ok = checker.verify(index, dnsfunc=from_record)
    except dkim.ValidationError as exc:
        if "body hash" in str(exc):
            return DkimStatus.FAIL, "body hash mismatch"
        return DkimStatus.PERMERROR, "key not for email"
    except dkim.KeyFormatError:
        return DkimStatus.PERMERROR, "unusable key record"
    except dkim.DKIMException:
        return DkimStatus.NEUTRAL, "signature not verifiable"
    return (DkimStatus.PASS, "") if ok else (DkimStatus.FAIL, "signature mismatch")


async def dns_lookup(
    name: str,
    *,
    lifetime: float = DNS_TIMEOUT,
    resolver: dns.asyncresolver.Resolver | None = None,
) -> list[bytes] | None:
    """The production :data:`TxtLookup`: dnspython's async resolver (system configuration by
    default), ``lifetime`` seconds at most for the whole query."""
    resolver = resolver or dns.asyncresolver.get_default_resolver()
    try:
        answer = await resolver.resolve(name.rstrip(".") + ".", "TXT", lifetime=lifetime)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException:
        return None
    return [b"".join(rdata.strings) for rdata in answer]
