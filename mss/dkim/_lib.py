"""What sign and verify share over dkimpy: a logger that never logs message content, and
dkimpy's own header parser (so we see the header fields exactly as it signs them)."""

from __future__ import annotations

import hashlib
import logging

import dkim
from dkim.canonicalization import correct_empty_body, strip_trailing_lines

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
        headers, _body = dkim.rfc822_parse(message[: header_end(message)])
    except dkim.MessageFormatError as exc:
        raise DkimError("malformed header section") from exc
    return [(bytes(name), bytes(value)) for name, value in headers]


def header_end(message: bytes) -> int:
    """Where the header section ends: just after the line end that precedes the first empty
    line (``len(message)`` when there is none). Parsing stops there, so that a 50 MB body costs
    no time on the event loop; dkimpy's parser sees the same fields."""
    if message.startswith((b"\r\n", b"\n")):
        return 0
    crlf = message.find(b"\n\r\n")
    bare = message.find(b"\n\n", 0, len(message) if crlf < 0 else crlf)  # never past crlf
    end = bare if bare >= 0 else crlf
    return end + 1 if end >= 0 else len(message)


def has_bare_line_end(message: bytes) -> bool:
    """A CR or LF not in a CRLF pair (dkimpy's parser turns them into CRLF)."""
    crlf = message.count(b"\r\n")
    return message.count(b"\n") != crlf or message.count(b"\r") != crlf


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 ("relaxed" body), the same result as dkimpy's, with ``bytes.replace``
    (C, memchr-fast) instead of regular expressions: tabs become spaces, runs of spaces are
    halved until none is left (log2 of the longest run passes), then the one space left before
    a line end goes. Most bodies (base64, plain text) need none of the rewrites."""
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    while b"  " in body:
        body = body.replace(b"  ", b" ")
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    return bytes(correct_empty_body(strip_trailing_lines(body)))


BODY_CHUNK = 256 * 1024


class BareLineEnd(Exception):
    """The body has a CR or LF outside a CRLF pair (the caller falls back to dkimpy)."""


def body_hash(
    message: bytes,
    start: int,
    *,
    relaxed: bool,
    limit: int | None = None,
    chunk: int = BODY_CHUNK,
) -> bytes:
    """SHA-256 of the canonical body ``message[start:]`` (RFC 6376 §3.4.3/§3.4.4), truncated to
    ``limit`` bytes (``l=``), computed piece by piece: pieces of ~``chunk`` bytes cut after a
    CRLF (no whitespace run spans two), so that no single C call holds the GIL long and the
    event loop keeps running while a worker thread hashes a 50 MB message. The result is
    dkimpy's. Raises :class:`BareLineEnd` for a body dkimpy would first normalise."""
    hasher = _CanonicalBody(limit, relaxed=relaxed)
    position = start
    while position < len(message):
        cut = message.find(b"\r\n", min(position + chunk, len(message)))
        end = len(message) if cut < 0 else cut + 2
        piece = message[position:end]
        crlf = piece.count(b"\r\n")
        if piece.count(b"\r") != crlf or piece.count(b"\n") != crlf:
            raise BareLineEnd
        hasher.feed(_relaxed_piece(piece) if relaxed else piece)
        position = end
    return hasher.digest()


def _relaxed_piece(piece: bytes) -> bytes:
    if b"\t" in piece:
        piece = piece.replace(b"\t", b" ")
    while b"  " in piece:
        piece = piece.replace(b"  ", b" ")
    return piece.replace(b" \r\n", b"\r\n") if b" \r\n" in piece else piece


class _CanonicalBody:
    """Hashes canonical pieces; empty lines at the end are held back and finally dropped."""

    def __init__(self, limit: int | None, *, relaxed: bool) -> None:
        self._hash = hashlib.sha256()
        self._left = limit
        self._relaxed = relaxed
        self._held_crlf = 0  # CRLFs after the last content, written only if content follows
        self._content = False

    def feed(self, piece: bytes) -> None:
        content = piece.rstrip(b"\r\n")
        if not content:
            self._held_crlf += len(piece) // 2
            return
        self._write(b"\r\n" * self._held_crlf + content)
        self._held_crlf = (len(piece) - len(content)) // 2
        self._content = True

    def digest(self) -> bytes:
        if self._content or not self._relaxed:  # one CRLF ends the body; relaxed: empty is ""
            self._write(b"\r\n")
        return self._hash.digest()

    def _write(self, data: bytes) -> None:
        if self._left is not None:
            data = data[: max(self._left, 0)]
            self._left -= len(data)
        self._hash.update(data)
