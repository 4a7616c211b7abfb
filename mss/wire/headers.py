"""Header fields of a raw message, read without changing the message; our ``Received:`` field.

MSS-MSG-1: we never rewrite a message, so these helpers only *read* the raw bytes (split the
header block, unfold and decode field values, pick addresses) and *render* the one field we
prepend. They are tolerant: garbage yields empty results, never an exception.
MSS-MSG-5: :func:`has_bare_line_ending` spots a CR or LF outside a CRLF pair.
"""

from __future__ import annotations

import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import format_datetime, getaddresses

_BLANK_LINE = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 §3.6.8 ftext
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=")  # RFC 2047
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_LOCAL_CHAR = re.compile(r"[\s<>()\[\],;:\"\\@]")  # outside a quoted local part
_BAD_DOMAIN_CHAR = re.compile(r"[\s<>()\\,;:\"@]")
_DECODE_ERRORS = (LookupError, UnicodeError, ValueError, TypeError, binascii.Error)

FOLD_WIDTH = 78
_HELO_CHARS = re.compile(r"[^A-Za-z0-9.\-\[\]:]")
_PROTOCOL_CHARS = re.compile(r"[^A-Za-z0-9]")
_TLS_CHARS = re.compile(r"[^A-Za-z0-9._\-+/ ]")
_ID_CHARS = re.compile(r"[^A-Za-z0-9._\-]")
_RECIPIENT_DROP = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff<>();\"\\]")
MAX_HELO_CHARS = 64


# --- reading -------------------------------------------------------------------------------


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """Split into (header block including its blank line, body); no blank line: all header."""
    for blank in (b"\r\n", b"\n"):
        if raw.startswith(blank):
            return raw[: len(blank)], raw[len(blank) :]
    match = _BLANK_LINE.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.end()], raw[match.end() :]


def _fields(header: bytes) -> list[tuple[bytes, list[bytes]]]:
    """(name, unfolded value pieces) per field; lines that are no field are skipped."""
    fields: list[tuple[bytes, list[bytes]]] = []
    in_field = False
    for line in _LINE_END.split(header):
        if line[:1] in (b" ", b"\t"):
            if in_field:
                fields[-1][1].append(line)  # RFC 5322 §2.2.3: unfolding removes the CRLF only
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")
        in_field = bool(colon) and _FIELD_NAME.fullmatch(name) is not None
        if in_field:
            fields.append((name, [value]))
    return fields


def header_values(raw: bytes, name: str, *, decode_words: bool = True) -> list[str]:
    """Unfolded values of every ``name`` field (case-insensitive), in order.

    RFC 2047 encoded words are decoded unless ``decode_words`` is false (pass false before
    parsing addresses: a decoded display name may contain ``,`` or ``@``). Never raises.
    """
    header, _body = split_message(raw)
    wanted = name.strip().lower()
    values: list[str] = []
    for field_name, pieces in _fields(header):
        if field_name.decode("ascii").lower() != wanted:
            continue
        text = b"".join(pieces).decode("utf-8", "replace").strip(" \t")
        values.append(decode_encoded_words(text) if decode_words else text)
    return values


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded words; a word that cannot be decoded is kept as it is."""
    pieces: list[str] = []
    position = 0
    after_word = False
    for match in _ENCODED_WORD.finditer(text):
        decoded = _decode_word(match[1], match[2], match[3])
        if decoded is None:
            continue
        gap = text[position : match.start()]
        if not (after_word and gap.strip(" \t\r\n") == ""):  # RFC 2047 §6.2
            pieces.append(gap)
        pieces.append(decoded)
        position = match.end()
        after_word = True
    pieces.append(text[position:])
    return "".join(pieces)


def _decode_word(charset: str, encoding: str, payload: str) -> str | None:
    if not payload.isascii():
        return None
    data = payload.encode("ascii")
    try:
        if encoding in "Qq":
            octets = _Q_HEX.sub(lambda match: bytes([int(match[1], 16)]), data.replace(b"_", b" "))
        else:
            octets = binascii.a2b_base64(data + b"=" * (-len(data) % 4))
        return octets.decode(charset, "replace")
    except _DECODE_ERRORS:
        return None


def addresses(value: str) -> list[str]:
    """addr-specs in a From/Reply-To/To value, domain lower-cased; garbage gives ``[]``.

    ``getaddresses`` of Python 3.11 splits ``a@evil <b@good>`` into two addresses; we refuse
    any value whose parse does not have one address per top-level list element.
    """
    expected = _list_elements(value)
    try:
        pairs = getaddresses([value])
    except _DECODE_ERRORS:
        return []
    found = [address for _display_name, address in pairs if address]
    if expected is None or len(found) != expected:
        return []
    result: list[str] = []
    for address in found:
        local, _at, domain = address.rpartition("@")
        if _plausible_local(local) and domain and not _BAD_DOMAIN_CHAR.search(domain):
            result.append(f"{local}@{domain.lower()}")
    return result


def _list_elements(value: str) -> int | None:
    """Non-empty comma-separated elements outside quotes, comments and angle brackets.

    Members of a group (``name: a, b;``) count one each. ``None`` when quotes, comments or
    angle brackets do not balance.
    """
    count, content, index = 0, False, 0
    while index < len(value):
        char = value[index]
        if char in _SKIPPERS:
            index = _SKIPPERS[char](value, index)
            if index < 0:
                return None
            content = content or char != "("
            continue
        if char in ")>":
            return None
        if char in ",;":
            count, content = count + int(content), False
        elif char == ":":
            content = False  # a group name is no address
        elif not char.isspace():
            content = True
        index += 1
    return count + int(content)


def _end_of_quoted(value: str, start: int) -> int:
    """Index after the quoted string opening at ``start``, or -1."""
    index = start + 1
    while index < len(value):
        if value[index] == "\\":
            index += 2
        elif value[index] == '"':
            return index + 1
        else:
            index += 1
    return -1


def _end_of_comment(value: str, start: int) -> int:
    """Index after the (nested) comment opening at ``start``, or -1."""
    depth, index = 0, start
    while index < len(value):
        char = value[index]
        if char == "\\":
            index += 2
            continue
        depth += int(char == "(") - int(char == ")")
        index += 1
        if depth == 0:
            return index
    return -1


def _end_of_angle(value: str, start: int) -> int:
    """Index after the ``<...>`` opening at ``start`` (quoted strings skipped), or -1."""
    index = start + 1
    while index < len(value):
        char = value[index]
        if char == '"':
            index = _end_of_quoted(value, index)
            if index < 0:
                return -1
        elif char == ">":
            return index + 1
        elif char == "<":
            return -1
        else:
            index += 1
    return -1


_SKIPPERS: dict[str, Callable[[str, int], int]] = {
    '"': _end_of_quoted,
    "(": _end_of_comment,
    "<": _end_of_angle,
}


def _plausible_local(local: str) -> bool:
    if not local or _CONTROL_CHAR.search(local):
        return False
    quoted = len(local) >= 2 and local[0] == local[-1] == '"'
    return quoted or not _BAD_LOCAL_CHAR.search(local)


def has_bare_line_ending(data: bytes) -> bool:
    """True when a LF is not preceded by CR or a CR is not followed by LF. MSS-MSG-5."""
    pairs = data.count(b"\r\n")
    return data.count(b"\n") != pairs or data.count(b"\r") != pairs


# --- rendering -----------------------------------------------------------------------------


def fold_field(name: str, value: str, width: int = FOLD_WIDTH) -> bytes:
    """``Name: value`` CRLF-terminated, folded at spaces into lines of at most ``width`` chars.

    The value must hold no CR or LF (callers sanitise); runs of spaces become one.
    """
    return fold_chunks(name, value.split(" "), width)


def fold_chunks(name: str, chunks: Sequence[str], width: int = FOLD_WIDTH) -> bytes:
    """Like :func:`fold_field`, but breaks only between ``chunks`` (joined by spaces).

    A chunk longer than the width stays whole on its own line (RFC 5322 §2.2.3 only forbids
    lines over 998 octets).
    """
    first = f"{name}:"
    lines: list[str] = []
    line = first
    for chunk in chunks:
        if not chunk:
            continue
        if len(line) + 1 + len(chunk) > width and line != first:
            lines.append(line)
            line = ""
        line = f"{line} {chunk}"
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def received_header(
    *,
    from_helo: str,
    peer_ip: str,
    by_host: str,
    with_protocol: str,
    tls: str | None,
    queue_id: str,
    recipient: str | None,
    now: datetime,
) -> bytes:
    """One RFC 5321 §4.4 ``Received:`` field; client-supplied text is reduced to safe chars.

    Lines stay under 78 characters except around a very long recipient address, which is
    never cut. ``recipient`` should be None when the message has several recipients.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    protocol = _PROTOCOL_CHARS.sub("", with_protocol)[:20] or "SMTP"
    helo = _HELO_CHARS.sub("", from_helo)[:MAX_HELO_CHARS] or "unknown"
    by = _HELO_CHARS.sub("", by_host)[:MAX_HELO_CHARS] or "localhost"
    chunks = ["from", helo, f"({_ip_literal(peer_ip)})", "by", by, "with", protocol]
    tls_text = " ".join(_TLS_CHARS.sub("", tls or "").split())[:100]
    if tls_text:
        chunks.append(f"({tls_text})")
    chunks.append(f"id {_ID_CHARS.sub('', queue_id)[:64] or 'unknown'}")
    for_path = _recipient_text(recipient, utf8=protocol.upper().startswith("UTF8"))
    if for_path:
        chunks.append(f"for <{for_path}>")
    chunks[-1] += ";"
    return fold_chunks("Received", [*chunks, format_datetime(now)])


def _ip_literal(peer_ip: str) -> str:
    """RFC 5321 §4.1.3 address literal of the peer, ``unknown`` when it is no IP address."""
    try:
        address = ipaddress.ip_address(peer_ip.split("%", 1)[0].strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return f"[IPv6:{address.compressed}]"
        address = address.ipv4_mapped
    return f"[{address}]"


def _recipient_text(recipient: str | None, *, utf8: bool) -> str:
    """The ``for`` path, or ``""``: non-ASCII only under SMTPUTF8 (RFC 6531 §4.4)."""
    if not recipient:
        return ""
    text = _RECIPIENT_DROP.sub("", recipient)[:256]
    if not text.isascii() and not utf8:
        return ""
    return text
