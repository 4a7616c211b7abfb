"""Undoing a part's Content-Transfer-Encoding for ``BINARY[...]`` (RFC 3516 §4.2), in chunks.

A 25 MB base64 attachment is decoded a chunk at a time: :func:`decoded_size` counts without
keeping anything, :func:`iter_decoded` yields the decoded bytes of a byte range, so the server
never holds the decoded part and its encoded form at once. Decoding is lenient the way mail
readers are (RFC 2045 §6.8: characters outside the base64 alphabet are ignored; a truncated
final quantum decodes to what it holds); an encoding we do not know is
:class:`UnknownEncodingError` (``NO [UNKNOWN-CTE]``).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Callable, Iterator

CHUNK = 1 << 20  # encoded bytes per step: bounds the extra memory of one decode
IDENTITY = frozenset({"7bit", "8bit", "binary"})  # RFC 2045 §6.2: nothing to undo
KNOWN = IDENTITY | {"base64", "quoted-printable"}
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# RFC 2045 §6.7 rule 3: blanks ending an encoded line were added in transport; delete them.
_TRAILING_BLANKS = re.compile(rb"[ \t]+(?=\r?\n)")
_NOT_BASE64 = bytes(b for b in range(256) if b not in _ALPHABET)


class UnknownEncodingError(ValueError):
    """BINARY of a part whose Content-Transfer-Encoding we cannot decode (``[UNKNOWN-CTE]``)."""


def normalise(encoding: str | None) -> str:
    """The CTE as compared: lower case, no blanks, ``7bit`` when absent (RFC 2045 §6.1)."""
    name = (encoding or "").split("(")[0].strip().lower()  # a trailing comment is no part of it
    if not name:
        return "7bit"
    if name not in KNOWN:
        raise UnknownEncodingError(name)
    return name


def _base64_quanta(body: bytes) -> Iterator[bytes]:
    """The base64 text as whole quanta (a multiple of 4 alphabet characters), a chunk at a
    time; the last one padded when the data stops short of a quantum. '=' ends the data and
    characters outside the alphabet are skipped (RFC 2045 §6.8)."""
    carry = b""
    for at in range(0, len(body), CHUNK):
        raw = body[at : at + CHUNK]
        end = raw.find(b"=")
        clean = carry + (raw if end < 0 else raw[:end]).translate(None, _NOT_BASE64)
        usable = len(clean) - len(clean) % 4
        carry = clean[usable:]
        if usable:
            yield clean[:usable]
        if end >= 0:
            break
    if len(carry) >= 2:  # a final quantum without its padding still holds 1 or 2 bytes
        yield carry + b"=" * (4 - len(carry))


def _quantum_size(quanta: bytes) -> int:
    return len(quanta) // 4 * 3 - quanta.count(b"=", -2)


def _base64_pieces(body: bytes) -> Iterator[bytes]:
    for quanta in _base64_quanta(body):
        yield binascii.a2b_base64(quanta)


def _qp_pieces(body: bytes) -> Iterator[bytes]:
    """Decoded quoted-printable, cut after line ends so no ``=XX`` or soft break is split."""
    at = 0
    while at < len(body):
        end = min(len(body), at + CHUNK)
        if end < len(body):
            line_end = body.rfind(b"\n", at, end)
            tail = body[end - 2 : end]
            if line_end >= 0:
                end = line_end + 1
            else:  # one line longer than a chunk: never cut inside "=XX" nor after a blank
                if b"=" in tail:
                    end -= len(tail) - tail.index(b"=")
                while end > at + 1 and body[end - 1] in (0x20, 0x09):
                    end -= 1
        chunk = _TRAILING_BLANKS.sub(b"", body[at:end])
        if end == len(body):
            chunk = chunk.rstrip(b" \t")
        yield binascii.a2b_qp(chunk)
        at = end


def _pieces(body: bytes, encoding: str) -> Iterator[bytes]:
    if encoding in IDENTITY:
        for at in range(0, len(body), CHUNK):
            yield body[at : at + CHUNK]
    elif encoding == "base64":
        yield from _base64_pieces(body)
    else:
        yield from _qp_pieces(body)


def decoded_size(body: bytes, encoding: str) -> int:
    """``BINARY.SIZE``: the length :func:`iter_decoded` gives for the whole part (base64 is
    counted without being decoded)."""
    if encoding in IDENTITY:
        return len(body)
    if encoding == "base64":
        return sum(_quantum_size(quanta) for quanta in _base64_quanta(body))
    return sum(len(piece) for piece in _pieces(body, encoding))


def _sized_pieces(body: bytes, encoding: str) -> Iterator[tuple[int, Callable[[], bytes]]]:
    """Each decoded piece's length and a way to decode it: base64 is sized without decoding,
    so the pieces before a window are skipped at the cost of a scan."""
    if encoding == "base64":
        for quanta in _base64_quanta(body):
            yield _quantum_size(quanta), functools.partial(binascii.a2b_base64, quanta)
        return
    for piece in _pieces(body, encoding):
        yield len(piece), functools.partial(_same, piece)


def _same(piece: bytes) -> bytes:
    return piece


def iter_decoded(
    body: bytes, encoding: str, start: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """The decoded bytes ``[start, start + length)`` in pieces of about :data:`CHUNK`."""
    stop = None if length is None else start + length
    if encoding in IDENTITY:
        yield from _pieces(body[start:stop], encoding)
        return
    seen = 0
    for size, piece_of in _sized_pieces(body, encoding):
        lo, hi = seen, seen + size
        seen = hi
        if hi <= start:
            continue
        if stop is not None and lo >= stop:
            return
        piece = piece_of()
        if lo >= start and (stop is None or hi <= stop):
            yield piece
        else:
            yield piece[max(0, start - lo) : size if stop is None else stop - lo]


def decode(body: bytes, encoding: str) -> bytes:
    """The whole part decoded (small parts; large ones go through :func:`iter_decoded`)."""
    return b"".join(iter_decoded(body, encoding))
