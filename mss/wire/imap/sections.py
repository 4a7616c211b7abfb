"""Body sections of a raw message (RFC 3501 §6.4.5 ``BODY[section]``, RFC 3516 ``BINARY``).

Works on the bytes as stored, so what a client fetches is exactly what was delivered: a part's
content is the bytes between its boundaries, its MIME header the bytes before its blank line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mss.wire.imap.binary import UnknownEncodingError, decode, normalise
from mss.wire.imap.fetch import Section

__all__ = ["UnknownEncodingError"]  # re-exported: the FETCH handler maps it to [UNKNOWN-CTE]

MAX_DEPTH = 20
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"^[^ \t\r\n]", re.MULTILINE)
_UNFOLD_TEXT = re.compile(r"\r?\n(?=[ \t])")
_BLANK_END = re.compile(rb"\r?\n\r?\n$")


@dataclass(frozen=True, slots=True)
class Entity:
    """A message or a body part: its header (with the blank line) and its content.

    ``default_type`` is the type it has without a Content-Type field: ``text/plain``, or
    ``message/rfc822`` for the parts of a ``multipart/digest`` (RFC 2046 §5.1.5).
    """

    header: bytes
    body: bytes
    default_type: str = "text/plain"

    @classmethod
    def parse(cls, data: bytes, default_type: str = "text/plain") -> Entity:
        if data.startswith((b"\r\n", b"\n")):  # no header at all
            blank = 2 if data.startswith(b"\r\n") else 1
            return cls(data[:blank], data[blank:], default_type)
        match = _HEADER_END.search(data)
        if match is None:
            return cls(data, b"", default_type)
        return cls(data[: match.end()], data[match.end() :], default_type)

    def fields(self) -> Message:
        """The header fields, unfolded (RFC 5322 §2.2.3), for parameter parsing."""
        parsed = BytesHeaderParser(policy=compat32).parsebytes(self.header)
        unfolded = Message(policy=compat32)
        for name, value in parsed.raw_items():
            unfolded[name] = _utf8(_UNFOLD_TEXT.sub("", str(value)).strip())
        unfolded.set_default_type(self.default_type)
        return unfolded

    def content_type(self) -> tuple[str, str | None]:
        """``type/subtype`` (lower case, RFC 2045 default) and the multipart boundary."""
        fields = self.fields()
        kind = fields.get_content_type().lower()
        boundary = fields.get_boundary() if kind.startswith("multipart/") else None
        return kind, boundary

    def parts(self) -> list[Entity]:
        kind, boundary = self.content_type()
        if not kind.startswith("multipart/") or not boundary:
            return []
        default = "message/rfc822" if kind == "multipart/digest" else "text/plain"
        return [
            Entity.parse(chunk, default)
            for chunk in split_multipart(self.body, boundary.encode("utf-8", "surrogateescape"))
        ]


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The bodies between ``--boundary`` lines (RFC 2046 §5.1.1), without the CRLF before them."""
    return [body[start:end] for start, end in split_offsets(body, 0, len(body), boundary)]


def split_offsets(data: bytes, lo: int, hi: int, boundary: bytes) -> list[tuple[int, int]]:
    """Where the parts of the multipart body ``data[lo:hi]`` start and end (no copies).

    Scans for the literal marker (a regex anchored on line starts tries every byte, far too slow
    for attachments of megabytes) and keeps only those that make a whole delimiter line."""
    marker = b"--" + boundary
    parts: list[tuple[int, int]] = []
    start: int | None = None
    at = lo
    while (found := data.find(marker, at, hi)) >= 0:
        at = found + 1
        line = _delimiter_line(data, lo, hi, found, len(marker))
        if line is None:
            continue
        before, after, closing = line
        if start is not None:
            parts.append((start, max(start, before)))
        if closing:
            return parts
        start = at = after
    if start is not None:
        parts.append((start, hi))
    return parts


def _delimiter_line(
    data: bytes, lo: int, hi: int, found: int, length: int
) -> tuple[int, int, bool] | None:
    """For a marker at ``found``: where the delimiter starts (with the line break before it),
    where the next part starts, and whether it closes; ``None`` if it is not a whole line."""
    if found > lo and data[found - 1] != 0x0A:
        return None
    before = found - 1 if found > lo else lo
    if before > lo and data[before - 1] == 0x0D:
        before -= 1
    end = found + length
    closing = data.startswith(b"--", end, hi)
    end += 2 if closing else 0
    while end < hi and data[end] in (0x20, 0x09):
        end += 1
    if data.startswith(b"\r\n", end, hi):
        return before, end + 2, closing
    if end == hi or data[end] == 0x0A:
        return before, min(end + 1, hi), closing
    return None  # "--boundaryx", "--boundary--x": text that merely starts like a delimiter


@dataclass(frozen=True, slots=True)
class _Span:
    """An entity inside a message by offsets: header from ``start``, content from ``body``."""

    start: int
    body: int
    end: int
    default_type: str = "text/plain"

    @classmethod
    def at(cls, data: bytes, start: int, end: int, default_type: str = "text/plain") -> _Span:
        """As :meth:`Entity.parse` on ``data[start:end]``, without copying it."""
        if data.startswith(b"\r\n", start, end):
            return cls(start, start + 2, end, default_type)
        if data.startswith(b"\n", start, end):
            return cls(start, start + 1, end, default_type)
        match = _HEADER_END.search(data, start, end)
        return cls(start, end if match is None else match.end(), end, default_type)

    def head(self, data: bytes) -> Entity:
        return Entity(data[self.start : self.body], b"", self.default_type)

    def children(self, data: bytes) -> list[_Span]:
        kind, boundary = self.head(data).content_type()
        if not kind.startswith("multipart/") or not boundary:
            return []
        default = "message/rfc822" if kind == "multipart/digest" else "text/plain"
        marker = boundary.encode("utf-8", "surrogateescape")
        return [
            _Span.at(data, lo, hi, default)
            for lo, hi in split_offsets(data, self.body, self.end, marker)
        ]


def find_part(message: bytes, path: tuple[int, ...]) -> Entity | None:
    """The entity a part number names; ``None`` when there is no such part.

    RFC 3501 §6.4.5: a message that is not multipart has only a part 1 (its body); numbering
    goes on inside a MESSAGE/RFC822 part (its message, numbered the same way); a part that is
    neither multipart nor a message has no parts below it (``1.1`` of a single text part, or
    ``3.1`` of a text part, is none). Walks by offsets: only the part found is copied (a 25 MB
    attachment is not copied once per level).
    """
    current = _Span.at(message, 0, len(message))
    for depth, number in enumerate(path[:MAX_DEPTH]):
        inside = depth == 0
        if depth > 0 and current.head(message).content_type()[0] == "message/rfc822":
            current = _Span.at(message, current.body, current.end)  # numbering goes on inside
            inside = True
        children = current.children(message)
        if children:
            if number > len(children):
                return None
            current = children[number - 1]
        elif number != 1 or not inside:
            return None
    return Entity(
        message[current.start : current.body],
        message[current.body : current.end],
        current.default_type,
    )


def header_fields(header: bytes, names: tuple[str, ...], *, exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields as sent, then the blank line."""
    wanted = {name.lower().encode("ascii", "replace") for name in names}
    blank = _BLANK_END.search(header)
    if blank is not None:  # the blank line ending the header is no field
        header = header[: blank.start() + (2 if header[blank.start()] == 13 else 1)]
    elif header.strip(b"\r\n") == b"":
        header = b""
    starts = [m.start() for m in _FIELD_START.finditer(header)]
    out: list[bytes] = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(header)
        field = header[start:end]
        name = field.split(b":", 1)[0].strip().lower()
        if not field.strip() or b":" not in field:
            continue
        if (name in wanted) != exclude:
            out.append(field if field.endswith(b"\n") else field + b"\r\n")
    return b"".join(out) + b"\r\n"


def section_bytes(message: bytes, section: Section) -> bytes | None:
    """The bytes of ``BODY[section]``; ``None`` (NIL) when the section does not exist.

    RFC 3501 §6.4.5: HEADER, HEADER.FIELDS[.NOT] and TEXT after a part number are those of a
    MESSAGE/RFC822 part; on any other part, like a part number that names no part, there is
    no such section, and the nstring of the response (§7.4.2) is NIL rather than an empty
    string that would claim an empty header.
    """
    if not section.part and section.text is None:
        return message
    entity = find_part(message, section.part) if section.part else Entity.parse(message)
    if entity is None:
        return None
    if section.text is None:
        return entity.body if section.part else message
    if section.text == "MIME":
        return entity.header
    if section.part:
        if entity.content_type()[0] != "message/rfc822":
            return None
        entity = Entity.parse(entity.body)
    if section.text == "HEADER":
        return entity.header
    if section.text == "TEXT":
        return entity.body
    return header_fields(entity.header, section.headers, exclude=section.text.endswith(".NOT"))


def binary_part(message: bytes, part: tuple[int, ...]) -> tuple[bytes, str] | None:
    """``BINARY[part]`` before decoding: the content and its normalised transfer encoding;
    ``None`` when there is no such part. :class:`UnknownEncodingError` for an encoding we
    cannot undo (RFC 3516 §4.3 ``[UNKNOWN-CTE]``). ``BINARY[]`` is the message as stored."""
    if not part:
        return message, "binary"
    entity = find_part(message, part)
    if entity is None:
        return None
    values = field_values(entity.header, "content-transfer-encoding")
    encoding = values[0].decode("ascii", "replace") if values else None  # as BODYSTRUCTURE
    return entity.body, normalise(encoding)


def binary_bytes(message: bytes, part: tuple[int, ...]) -> bytes | None:
    """``BINARY[part]``: the part's content with its transfer encoding undone (RFC 3516)."""
    found = binary_part(message, part)
    return None if found is None else decode(*found)


_UNFOLD = re.compile(rb"\r?\n(?=[ \t])")


@functools.lru_cache(maxsize=256)
def _field_pattern(name: str) -> re.Pattern[bytes]:
    return re.compile(
        rb"^" + re.escape(name.encode("ascii", "replace")) + rb"[ \t]*:(.*(?:\r?\n[ \t].*)*)",
        re.IGNORECASE | re.MULTILINE,
    )


def field_values(header: bytes, name: str) -> list[bytes]:
    """The unfolded values of every ``name:`` field in a header section (fast, no MIME parse)."""
    return [_UNFOLD.sub(b"", m.group(1)).strip() for m in _field_pattern(name).finditer(header)]


def _utf8(text: str) -> str:
    """A header value read as ASCII with escaped 8-bit bytes, as text when they are UTF-8
    (RFC 6532): otherwise ``email`` would turn every such byte into U+FFFD."""
    try:
        return text.encode("ascii", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return text
