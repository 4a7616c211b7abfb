"""Body sections of a raw message (RFC 3501 §6.4.5 ``BODY[section]``, RFC 3516 ``BINARY``).

Works on the bytes as stored, so what a client fetches is exactly what was delivered: a part's
content is the bytes between its boundaries, its MIME header the bytes before its blank line.
"""

from __future__ import annotations

import base64
import binascii
import functools
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mss.wire.imap.fetch import Section

MAX_DEPTH = 20
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"^[^ \t\r\n]", re.MULTILINE)


class UnknownEncodingError(ValueError):
    """BINARY of a part whose Content-Transfer-Encoding we cannot decode (``[UNKNOWN-CTE]``)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A message or a body part: its header (with the blank line) and its content."""

    header: bytes
    body: bytes

    @classmethod
    def parse(cls, data: bytes) -> Entity:
        if data.startswith((b"\r\n", b"\n")):  # no header at all
            blank = 2 if data.startswith(b"\r\n") else 1
            return cls(data[:blank], data[blank:])
        match = _HEADER_END.search(data)
        if match is None:
            return cls(data, b"")
        return cls(data[: match.end()], data[match.end() :])

    def fields(self) -> Message:
        return BytesHeaderParser(policy=compat32).parsebytes(self.header)

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
        return [
            Entity.parse(chunk)
            for chunk in split_multipart(self.body, boundary.encode("latin-1", "replace"))
        ]


def split_multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The bodies between ``--boundary`` lines (RFC 2046 §5.1.1), without the CRLF before them."""
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the close delimiter
            return parts
        start = match.end()
    if start is not None:
        parts.append(body[start:])
    return parts


def find_part(message: bytes, path: tuple[int, ...]) -> Entity | None:
    """The entity a part number names; ``None`` when there is no such part."""
    current = Entity.parse(message)
    for depth, number in enumerate(path[:MAX_DEPTH]):
        if depth > 0 and current.content_type()[0] == "message/rfc822":
            current = Entity.parse(current.body)  # numbering continues inside the message
        children = current.parts()
        if children:
            if number > len(children):
                return None
            current = children[number - 1]
        elif number != 1:
            return None
    return current


def header_fields(header: bytes, names: tuple[str, ...], *, exclude: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the matching fields as sent, then the blank line."""
    wanted = {name.lower().encode("ascii", "replace") for name in names}
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


def section_bytes(message: bytes, section: Section) -> bytes:
    """The bytes of ``BODY[section]`` (empty when the part does not exist, as servers do)."""
    if not section.part and section.text is None:
        return message
    entity = find_part(message, section.part) if section.part else Entity.parse(message)
    if entity is None:
        return b""
    if section.text is None:
        return entity.body if section.part else message
    if section.text == "MIME":
        return entity.header
    if section.part:
        if entity.content_type()[0] != "message/rfc822":
            return b""
        entity = Entity.parse(entity.body)
    if section.text == "HEADER":
        return entity.header
    if section.text == "TEXT":
        return entity.body
    return header_fields(entity.header, section.headers, exclude=section.text.endswith(".NOT"))


def binary_bytes(message: bytes, part: tuple[int, ...]) -> bytes:
    """``BINARY[part]``: the part's content with its transfer encoding undone (RFC 3516)."""
    if not part:
        return message
    entity = find_part(message, part)
    if entity is None:
        return b""
    encoding = str(entity.fields().get("content-transfer-encoding", "7bit")).strip().lower()
    if encoding in ("7bit", "8bit", "binary"):
        return entity.body
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", entity.body))
        except (binascii.Error, ValueError) as exc:
            raise UnknownEncodingError("bad base64") from exc
    if encoding == "quoted-printable":
        return quopri.decodestring(entity.body)
    raise UnknownEncodingError(encoding)


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
