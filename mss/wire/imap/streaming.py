"""Literals of FETCH body sections, small ones whole and large ones as a stream of chunks.

``BODY[...]`` (RFC 3501 §7.4.2) is a plain literal, which may not carry NUL (``CHAR8``): a
message stored with NUL bytes (APPEND of a literal8, RFC 3516 §4.1) has them shown as 0x80 there,
as Dovecot does; the bytes as stored are for ``BINARY[]``. ``BINARY[...]`` (RFC 3516 §4.3) is a
literal8 ``~{n}`` exactly when its decoded bytes hold a NUL, a plain literal otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mss.wire.imap.binary import CHUNK, IDENTITY, iter_decoded
from mss.wire.imap.response import Literal, Value

STREAM_FROM = 256 * 1024  # literals at least this long are sent a chunk at a time
_NO_NUL = bytes.maketrans(b"\x00", b"\x80")


@dataclass(frozen=True, slots=True)
class Streamed:
    """A literal of ``size`` bytes produced by ``chunks`` while it is being sent."""

    size: int
    binary: bool
    chunks: Iterator[bytes]

    def announcement(self) -> bytes:
        return (b"~" if self.binary else b"") + b"{%d}\r\n" % self.size


Partial = tuple[int, int | None]  # ``<origin.length>``; no length: to the end (BINARY only)


def _window(total: int, partial: Partial | None) -> tuple[int, int]:
    """``<origin.length>`` as a start and a stop inside ``total`` bytes (RFC 3501 §6.4.5:
    an origin past the end gives an empty string)."""
    if partial is None:
        return 0, total
    origin, length = partial
    start = min(origin, total)
    return start, total if length is None else min(total, start + length)


def _chunks(data: bytes, start: int, stop: int) -> Iterator[bytes]:
    for at in range(start, stop, CHUNK):
        yield data[at : min(stop, at + CHUNK)].translate(_NO_NUL)


def plain_literal(data: bytes, partial: Partial | None) -> Literal | Streamed:
    """``BODY[section]<partial>``: a literal without NUL."""
    start, stop = _window(len(data), partial)
    if stop - start >= STREAM_FROM:
        return Streamed(stop - start, False, _chunks(data, start, stop))
    piece = data[start:stop]
    return Literal(piece.translate(_NO_NUL) if b"\x00" in piece else piece)


def survey(body: bytes, encoding: str) -> tuple[int, bool]:
    """One decoding pass over a whole part: its decoded size (``BINARY.SIZE``) and whether it
    holds a NUL. Callers keep the answer per part for the rest of the command."""
    if encoding in IDENTITY:
        return len(body), b"\x00" in body
    total = 0
    nul = False
    for piece in iter_decoded(body, encoding):
        nul = nul or b"\x00" in piece
        total += len(piece)
    return total, nul


def _window_has_nul(body: bytes, encoding: str, start: int, stop: int) -> bool:
    return any(b"\x00" in piece for piece in iter_decoded(body, encoding, start, stop - start))


def decoded_literal(
    body: bytes,
    encoding: str,
    partial: Partial | None,
    known: tuple[int, bool] | None = None,
) -> Literal | Streamed:
    """``BINARY[part]<partial>``: the content with its transfer encoding undone. ``known`` is
    the :func:`survey` of the part if already made; a small window needs none."""
    if partial is not None and partial[1] is not None and partial[1] < STREAM_FROM:
        data = b"".join(iter_decoded(body, encoding, *partial))
        return Literal(data, binary=b"\x00" in data)
    total, nul = known if known is not None else survey(body, encoding)
    start, stop = _window(total, partial)
    if stop - start < STREAM_FROM:
        data = b"".join(iter_decoded(body, encoding, start, stop - start))
        return Literal(data, binary=b"\x00" in data)
    if nul and partial is not None:
        nul = _window_has_nul(body, encoding, start, stop)
    return Streamed(stop - start, nul, iter_decoded(body, encoding, start, stop - start))


def is_small(partial: Partial | None) -> bool:
    """Whether a partial's window is bounded and small enough to decode without a survey."""
    return partial is not None and partial[1] is not None and partial[1] < STREAM_FROM


def without_nul(value: Value) -> Value:
    """ENVELOPE or BODYSTRUCTURE of a message holding NUL (an APPEND of a literal8): its
    strings are sent as plain strings, so NUL becomes 0x80 in bytes and U+FFFD in text."""
    if isinstance(value, tuple):
        return tuple(without_nul(item) for item in value)
    if isinstance(value, bytes):
        return value.translate(_NO_NUL)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Literal) and not value.binary:
        return Literal(value.data.translate(_NO_NUL))
    return value
