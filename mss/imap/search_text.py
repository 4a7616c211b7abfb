"""The text SEARCH compares (RFC 3501 §6.4.4): header fields and bodies as a reader sees them.

Pure functions, no I/O. Every string SEARCH key is a case-insensitive substring test (RFC 3501
§6.4.4 "In all search keys that use strings, a message matches the key if the string is a
substring of the field"), done on :func:`fold`\\ ed text: Unicode case folding and compatibility
decomposition, close to ``i;unicode-casemap`` (RFC 5051).

- Header fields are unfolded (RFC 5322 §2.2.3) and their RFC 2047 encoded words decoded; 8-bit
  values are read as UTF-8 (RFC 6532).
- Address fields (FROM, TO, CC, BCC ...) are compared on their addresses: comments dropped
  (a comment's text kept as the name when there is no display name), quoted strings unquoted,
  ``local @ domain`` joined, so ``user@domain.org`` finds ``<user (c)@ (c) domain.org>``.
- BODY looks at the text of the message's text parts, with their content transfer encoding
  (base64, quoted-printable) and charset decoded; TEXT at that and every header section.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_to_datetime

ADDRESS_FIELDS = frozenset(
    {"from", "to", "cc", "bcc", "sender", "reply-to", "resent-from", "resent-to", "resent-cc"}
    | {"resent-bcc", "resent-sender", "return-path", "delivered-to"}
)
# One field per match: its name and its value with the folded lines (RFC 5322 §2.2).
FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.MULTILINE)
# The day of an RFC 5322 date-time, as written (the time and zone do not matter to SENTON).
_DAY = re.compile(rb"^\s*(?:[A-Za-z]+\s*,\s*)?(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{2,4})\b")
_MONTHS = {
    m: i
    for i, m in enumerate(
        (
            b"jan",
            b"feb",
            b"mar",
            b"apr",
            b"may",
            b"jun",
            b"jul",
            b"aug",
            b"sep",
            b"oct",
            b"nov",
            b"dec",
        ),
        start=1,
    )
}
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_SPACES = re.compile(r"\s+")
_AT = re.compile(r"\s*@\s*")
_COMPLEX = frozenset('("\\')
_MAX_BODY_TEXT = 64 * 1024 * 1024  # decoded text looked at per message


def fold(text: str) -> str:
    """Case-folded, compatibility-decomposed text (RFC 5051 in spirit) for substring tests."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text.casefold())


def unfolded(raw: bytes) -> str:
    """A field value with its line breaks removed (RFC 5322 §2.2.3), as text: UTF-8 (RFC
    6532), or Latin-1 for the raw 8-bit bytes of old mailers when it is not UTF-8."""
    return _text(_FOLD.sub(b"", raw).strip())


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decoded(value: str) -> str:
    """``value`` with its RFC 2047 encoded words decoded (left as is when they are broken)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return value


def field_text(name: str, raw: bytes) -> str:
    """What a string key compares a field ``name`` (lower case) with, not yet folded."""
    value = unfolded(raw)
    if name in ADDRESS_FIELDS:
        return address_text(value)
    return decoded(value)


def address_text(value: str) -> str:
    """An address list as ``name <local@domain>, ...``: comments out (their text kept after
    the address when it has no display name), quotes and escapes removed, encoded words
    decoded, blanks around ``@`` gone. Tolerant: any text gives some text."""
    if not _COMPLEX.intersection(value):
        return decoded(_AT.sub("@", _SPACES.sub(" ", value)))
    out: list[str] = []
    comments: list[str] = []
    at = 0
    while at < len(value):
        char = value[at]
        if char == "\\" and at + 1 < len(value):
            out.append(value[at + 1])
            at += 2
        elif char == '"':
            end = _closing_quote(value, at + 1)
            out.append(value[at + 1 : end].replace("\\", ""))
            at = end + 1
        elif char == "(":
            end, at_next = _closing_paren(value, at + 1)
            comments.append(value[at + 1 : end])
            out.append(" ")
            at = at_next
        else:
            out.append(char)
            at += 1
    text = _AT.sub("@", _SPACES.sub(" ", "".join(out))).strip()
    return decoded(" ".join(p for p in (text, *(c.strip() for c in comments)) if p))


def _closing_quote(value: str, at: int) -> int:
    while at < len(value) and value[at] != '"':
        at += 2 if value[at] == "\\" else 1
    return min(at, len(value))


def _closing_paren(value: str, at: int) -> tuple[int, int]:
    """Where a comment opened before ``at`` ends (comments nest; an unclosed one runs to the
    end) and where the text goes on after its ``)``."""
    depth = 1
    while at < len(value):
        char = value[at]
        if char == "\\":
            at += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if not depth:
                return at, at + 1
        at += 1
    return len(value), len(value)


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """``(lower-case name, raw value)`` of each field of a header section, in order."""
    return [(m.group(1).decode("ascii").lower(), m.group(2)) for m in FIELD.finditer(header)]


def header_matches(header: bytes, name: str, needle: str) -> bool:
    """RFC 3501 HEADER / FROM / SUBJECT ...: a ``name`` field holds ``needle`` (folded);
    an empty needle asks whether the field is there at all."""
    wanted = name.lower()
    for field_name, raw in header_fields(header):
        if field_name == wanted and needle in fold(field_text(field_name, raw)):
            return True
    return False


_RESHAPED = re.compile(rb'[("\\]|=\?|\s@|@\s')
_BLANKS = re.compile(rb"\n[ \t]|\t|  ")


def header_surely_absent(header: bytes, needle: str) -> bool:
    """A cheap first test for header keys: an ASCII needle absent from the lower-cased raw
    bytes of an ASCII header section that decoding cannot reshape (no encoded word, comment,
    quoted string, escape, blank next to "@"; for a needle with blanks, no folded line, tab
    nor run of spaces) is in none of its fields."""
    if not needle or not needle.isascii() or not header.isascii() or _RESHAPED.search(header):
        return False
    if any(c.isspace() for c in needle) and _BLANKS.search(header):
        return False
    return needle.encode() not in header.lower()


def header_text(header: bytes) -> str:
    """Every field of a header section as ``name: decoded value`` lines, folded."""
    return fold("\n".join(f"{n}: {field_text(n, raw)}" for n, raw in header_fields(header)))


def sent_date(header: bytes) -> date | None:
    """The day of the ``Date:`` field as written, in its own time zone (RFC 3501 SENTON)."""
    for name, raw in header_fields(header):
        if name == "date":
            return parse_sent_date(raw)
    return None


def parse_sent_date(raw: bytes) -> date | None:
    """The day of a ``Date:`` value as written; None when it cannot be read."""
    match = _DAY.match(raw)
    if match is not None:
        month = _MONTHS.get(match.group(2).lower())
        year = int(match.group(3))
        if len(match.group(3)) < 4:  # RFC 5322 §4.3 obsolete years
            year += 2000 if year < 50 else 1900
        if month is not None:
            try:
                return date(year, month, int(match.group(1)))
            except ValueError:
                return None
    try:
        return parsedate_to_datetime(unfolded(raw)).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_DECODING = re.compile(rb"base64|quoted-printable|=\?", re.IGNORECASE)
_CHARSET = re.compile(rb"charset\s*\*?\s*=\s*\"?([^\s\";]*)", re.IGNORECASE)
_ASCII_CHARSETS = re.compile(rb"(?:us-ascii|ascii|utf-8|utf8|iso-8859-\d+|(?:windows|cp)-?125\d)")


def surely_absent(message: bytes, needle: str) -> bool:
    """A cheap first test for BODY/TEXT: an ASCII needle absent from the raw bytes of an ASCII
    message that nothing transforms (no transfer encoding to undo, no encoded word, only
    charsets that keep ASCII as it is) cannot be in its text, which is those bytes lower-cased
    give or take the blanks of header lines; needles those blanks could make are let through
    (a colon, a leading blank, a blank other than a space, a space with folded lines)."""
    if not needle.isascii() or ":" in needle or needle[:1] == " ":
        return False
    if any(c.isspace() and c != " " for c in needle):
        return False
    if not message.isascii() or _DECODING.search(message):
        return False
    if " " in needle and (b"\n " in message or b"\n\t" in message):
        return False
    if any(not _ASCII_CHARSETS.fullmatch(c.lower()) for c in _CHARSET.findall(message)):
        return False
    return needle.encode() not in message.lower()


def body_text(message: bytes, *, with_headers: bool) -> str:
    """The decoded text of the text parts (folded); with every header section for TEXT."""
    parsed = message_from_bytes(message, policy=compat32)
    pieces: list[str] = []
    size = 0
    for part in parsed.walk():
        if with_headers:
            pieces.append(_part_header_text(part))
        if part.is_multipart() or part.get_content_maintype() not in ("text", "message"):
            continue
        if part.get_content_type() == "message/rfc822":
            continue  # walk() goes into the enclosed message
        text = _part_text(part)
        size += len(text)
        if size > _MAX_BODY_TEXT:
            break
        pieces.append(text)
    return fold("\n".join(pieces))


def _part_header_text(part: Message) -> str:
    """A part's header for TEXT: each field unfolded and decoded, as written otherwise."""
    return "\n".join(
        f"{name.lower()}: {decoded(unfolded(_raw(value)))}" for name, value in part.items()
    )


def _raw(value: object) -> bytes:
    """A header value from ``compat32`` (str with surrogates for 8-bit bytes) as bytes."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _part_text(part: Message) -> str:
    """A part's content, transfer encoding undone, in its charset (UTF-8 when unknown)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    if charset is None:
        return _text(payload)  # RFC 2045 says US-ASCII; UTF-8 and Latin-1 are what is sent
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return _text(payload)
