"""What sign and verify share over dkimpy: a logger that never logs message content, and
dkimpy's own header parser (so we see the header fields exactly as it signs them)."""

from __future__ import annotations

import logging

import dkim

from mss.dkim.keys import DkimError


def _quiet_logger() -> logging.Logger:
    # dkimpy logs canonicalised headers and key records at debug level: never let them out.
    logger = logging.Logger("mss.dkim.dkimpy", level=logging.CRITICAL + 1)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


QUIET_LOGGER = _quiet_logger()


def header_fields(message: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw value) of each header field, in order, as dkimpy parses them."""
    try:
        headers, _body = dkim.rfc822_parse(message)
    except dkim.MessageFormatError as exc:
        raise DkimError("malformed header section") from exc
    return [(bytes(name), bytes(value)) for name, value in headers]
