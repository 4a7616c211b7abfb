"""SASL PLAIN (RFC 4616) message parsing."""

from __future__ import annotations

from mss.wire.errors import WireSyntaxError

MAX_FIELD = 255


def parse_plain(message: bytes) -> tuple[str, str, str]:
    """``[authzid] NUL authcid NUL passwd`` -> (authzid, authcid, password), UTF-8."""
    parts = message.split(b"\x00")
    if len(parts) != 3:
        raise WireSyntaxError("PLAIN message needs exactly two NUL separators")
    try:
        authzid, authcid, password = (part.decode("utf-8") for part in parts)
    except UnicodeDecodeError:
        raise WireSyntaxError("PLAIN message is not UTF-8") from None
    if not authcid or not password:
        raise WireSyntaxError("PLAIN message lacks a login or a password")
    if any(len(field) > MAX_FIELD for field in (authzid, authcid, password)):
        raise WireSyntaxError("PLAIN field too long")
    return authzid, authcid, password
