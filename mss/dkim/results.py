"""DKIM outcomes and the ``Authentication-Results`` field (RFC 8601): rendering ours, and
removing incoming ones that claim to be ours.

:func:`strip_forged_results` is the one rewrite of a message the operator allows itself
(MSS-MSG-1 otherwise forbids any): RFC 8601 §5 requires a border MTA to remove fields bearing
its own authserv-id, or a sender could forge our verdict. Every other byte is kept as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mss.dkim._lib import header_end
from mss.dkim.keys import DNS_NAME, DkimError

FIELD_NAME = b"authentication-results"
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")
_UNSAFE_B = re.compile(r"[^A-Za-z0-9+/=]")
_UNSAFE_REASON = re.compile(r"[^A-Za-z0-9 .,=_-]")
_WSP = b" \t\r\n"


class DkimStatus(StrEnum):
    """RFC 8601 §2.7.1 results of the ``dkim`` method (``none`` is the empty list)."""

    PASS = "pass"  # noqa: S105 (a result, not a password)
    FAIL = "fail"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True)
class DkimResult:
    """The outcome of one signature; ``reason`` is a fixed text of ours, never message data."""

    status: DkimStatus
    domain: str | None
    selector: str | None
    reason: str = ""
    header_b: str | None = None


# --- rendering -----------------------------------------------------------------------------


def authentication_results(authserv_id: str, results: Sequence[DkimResult]) -> bytes:
    """The ``Authentication-Results:`` field (folded, CRLF-terminated) to prepend.

    One ``dkim=`` result per signature; ``dkim=none`` when there was no signature.
    """
    if DNS_NAME.fullmatch(authserv_id) is None:
        raise DkimError(f"invalid authserv-id {authserv_id!r}")
    resinfos = [_resinfo(result) for result in results] or ["dkim=none"]
    value = ";".join(f"\r\n\t{resinfo}" for resinfo in resinfos)
    return f"Authentication-Results: {authserv_id};{value}\r\n".encode("ascii")


def _resinfo(result: DkimResult) -> str:
    """``dkim=<result> [reason="…"] header.d=… header.s=… header.b="…"`` (RFC 8601 §2.2)."""
    parts = [f"dkim={DkimStatus(result.status).value}"]
    reason = _UNSAFE_REASON.sub("", result.reason)
    if reason:
        parts.append(f'reason="{reason}"')
    for ptype, name in (("header.d", result.domain), ("header.s", result.selector)):
        if name and DNS_NAME.fullmatch(name):
            parts.append(f"{ptype}={name}")
    header_b = _UNSAFE_B.sub("", result.header_b or "")
    if header_b:
        parts.append(f'header.b="{header_b}"')  # "/" and "=" are tspecials: quoted
    return " ".join(parts)


# --- removing forged fields ------------------------------------------------------------------


def strip_forged_results(message: bytes, authserv_id: str) -> bytes:
    """``message`` without the ``Authentication-Results`` fields whose authserv-id is ours.

    Fields from other authserv-ids, every other field and the body are kept byte for byte.
    The comparison ignores case (authserv-ids are domain names). Only the header section is
    read: the body is never scanned.
    """
    ours = authserv_id.strip().lower().encode("ascii")
    head_end = header_end(message)
    fields = list(_header_fields_raw(message, head_end))
    kept = [field for field in fields if not _is_ours(field, ours)]
    if len(kept) == len(fields):
        return message  # the usual case: no copy of a large message
    return b"".join([*kept, message[head_end:]])


def _header_fields_raw(message: bytes, head_end: int) -> Iterator[bytes]:
    """Each header field of ``message[:head_end]`` with its continuation lines."""
    field: list[bytes] = []
    for line in _LINE.findall(message, 0, head_end):
        if line[:1] in (b" ", b"\t") and field:
            field.append(line)
            continue
        yield from ([b"".join(field)] if field else [])
        field = [line]
    yield from ([b"".join(field)] if field else [])


def _is_ours(field: bytes, ours: bytes) -> bool:
    name, colon, value = field.partition(b":")
    if not colon or name.rstrip(b" \t").lower() != FIELD_NAME:
        return False
    return authserv_id_of(value).lower() == ours


def authserv_id_of(value: bytes) -> bytes:
    """The authserv-id at the start of an ``Authentication-Results`` value (RFC 8601 §2.2):
    after optional CFWS, a token or a quoted-string; ``b""`` when there is none."""
    rest = _skip_cfws(value)
    if rest.startswith(b'"'):
        return _quoted_string(rest[1:])
    match = re.match(rb"[^\s;()\"]+", rest)
    return match.group(0) if match else b""


def _skip_cfws(value: bytes) -> bytes:
    depth = 0
    position = 0
    while position < len(value):
        char = value[position : position + 1]
        if char == b"\\" and depth:
            position += 2
            continue
        if char == b"(":
            depth += 1
        elif char == b")" and depth:
            depth -= 1
        elif not depth and char not in _WSP:
            return value[position:]
        position += 1
    return b""


def _quoted_string(value: bytes) -> bytes:
    out = bytearray()
    position = 0
    while position < len(value):
        char = value[position : position + 1]
        if char == b'"':
            return bytes(out)
        if char == b"\\":
            position += 1
            char = value[position : position + 1]
        out += char
        position += 1
    return b""  # unterminated: no authserv-id
