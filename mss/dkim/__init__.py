"""DKIM (RFC 6376) for the operator: signing keys and their DNS record, signing outbound mail,
verifying inbound mail and rendering the ``Authentication-Results`` field (RFC 8601).

Self-contained: it imports nothing of ours but ``config`` (in ``mss.dkim.config``), so any layer may
use it. The CPU work is dkimpy's and OpenSSL's.
MSS-MSG-1: we never rewrite a message; signing and verifying only give a field to *prepend*.
The one rewrite is :func:`strip_forged_results` (forged ``Authentication-Results`` removed).
"""

from __future__ import annotations

from mss.dkim.inbound import InboundDkim, Prepared
from mss.dkim.keys import (
    DkimError,
    DkimKey,
    KeyKind,
    dns_record,
    generate_key,
    key_from_pem,
    load_key,
    save_key,
)
from mss.dkim.sign import DEFAULT_SIGNED_HEADERS, sign
from mss.dkim.signer import DkimSigner
from mss.dkim.verify import (
    DkimResult,
    DkimStatus,
    TxtLookup,
    authentication_results,
    dns_lookup,
    strip_forged_results,
    verify,
)

__all__ = [
    "DEFAULT_SIGNED_HEADERS",
    "DkimError",
    "DkimKey",
    "DkimResult",
    "DkimSigner",
    "DkimStatus",
    "InboundDkim",
    "KeyKind",
    "Prepared",
    "TxtLookup",
    "authentication_results",
    "dns_lookup",
    "dns_record",
    "generate_key",
    "key_from_pem",
    "load_key",
    "save_key",
    "sign",
    "strip_forged_results",
    "verify",
]
