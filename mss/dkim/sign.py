"""Signing outbound mail for our domains: the ``DKIM-Signature`` field to prepend (RFC 6376).

relaxed/relaxed canonicalisation (survives the usual re-folding by relays), sha256, and the
fields listed in :data:`DEFAULT_SIGNED_HEADERS` plus every MSSanté ``X-MSS-*`` field present.
Each signed name is listed once more than it occurs ("over-signing", RFC 6376 §8.15), so no
relay can add a second ``From`` or a forged ``X-MSS-INS`` without breaking the signature.
MSS-MSG-1: the message is not changed; the caller prepends the field we return.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import dkim

from mss.dkim._lib import QUIET_LOGGER, header_fields
from mss.dkim.keys import DkimError, DkimKey

DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
)
MSS_HEADER_PREFIX = "x-mss-"  # MSS-MSG-1: X-MSS-CODECDA, X-MSS-INS, X-MSS-NIL, X-MSS-MES
CANONICALIZATION = (b"relaxed", b"relaxed")


def sign(
    message: bytes,
    *,
    domain: str,
    selector: str,
    key: DkimKey,
    headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
) -> bytes:
    """The ``DKIM-Signature:`` field (folded, CRLF-terminated) to prepend to ``message``.

    Raises :class:`DkimError` when the message has no parsable header section or the
    parameters are unusable. CPU-bound (one RSA signature): call it off the event loop.
    """
    names = [name.decode("ascii", "replace") for name, _value in header_fields(message)]
    include = signed_header_names(names, headers)
    try:
        field = dkim.sign(
            message,
            selector.encode("ascii"),
            domain.encode("ascii"),
            key.signing_secret(),
            canonicalize=CANONICALIZATION,
            signature_algorithm=key.algorithm,
            include_headers=[name.encode("ascii") for name in include],
            logger=QUIET_LOGGER,
            linesep=b"\r\n",
        )
    except (dkim.DKIMException, UnicodeEncodeError) as exc:
        raise DkimError(f"cannot sign: {type(exc).__name__}") from exc
    return bytes(field)


def signed_header_names(present: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The ``h=`` list: each wanted name, then each ``X-MSS-*`` name present, over-signed."""
    counts = Counter(name.strip().lower() for name in present)
    ordered = dict.fromkeys(name.strip().lower() for name in wanted)
    ordered.update(dict.fromkeys(n for n in counts if n.startswith(MSS_HEADER_PREFIX)))
    return [name for name in ordered for _ in range(counts[name] + 1)]
