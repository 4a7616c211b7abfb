"""ENVELOPE and BODYSTRUCTURE from a raw message (RFC 3501 §7.4.2), via the stdlib ``email``.

Both return :mod:`mss.wire.imap.response` values (tuples, strings, numbers, NIL) in the exact
field order of the RFC; render them with :func:`mss.wire.imap.response.render_value`.
Header values are sent raw (encoded-words untouched), unfolded.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses
from io import BytesIO

from mss.wire.imap.response import Value

_POLICY = compat32.clone(linesep="\r\n")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
MAX_DEPTH = 20
_ENVELOPE_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


def _parse(message: bytes) -> Message:
    return message_from_bytes(message, policy=_POLICY)


def _raw_header(msg: Message, name: str) -> bytes | None:
    """The first field ``name`` as received (8-bit bytes kept), unfolded and stripped."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            raw = str(value).encode("ascii", "surrogateescape")
            return _FOLD.sub(b"", raw).strip()
    return None


def _header(msg: Message, name: str) -> str | None:
    raw = _raw_header(msg, name)
    return None if raw is None else raw.decode("utf-8", "replace")


def _nstring(msg: Message, name: str) -> str | bytes | None:
    """A field for the envelope: text when UTF-8 (RFC 6532), else the raw bytes (a literal)."""
    raw = _raw_header(msg, name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _mailboxes(text: str) -> list[Value]:
    out: list[Value] = []
    for name, address in getaddresses([text]):
        if not address and not name:
            continue
        local, at, host = address.rpartition("@")
        mailbox, domain = (local, host) if at else (address, None)
        out.append((name or None, None, mailbox or None, domain))
    return out


def _addresses(text: str | None) -> Value:
    """RFC 3501 address list; a group is ``(NIL NIL name NIL) ... (NIL NIL NIL NIL)``."""
    if not text:
        return None
    out: list[Value] = []
    for piece in _split_top_level(text):
        group = _group(piece)
        if group is not None:
            out.append((None, None, group[0], None))
            out.extend(_mailboxes(group[1]))
            out.append((None, None, None, None))
        else:
            out.extend(_mailboxes(piece))
    return tuple(out) or None


def _group(piece: str) -> tuple[str, str] | None:
    """``name: members;`` -> (name, members), if ``piece`` is a group (RFC 5322 §3.4)."""
    piece = piece.lstrip(" ,\t\r\n")
    quoted = False
    for index, char in enumerate(piece):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == ":":
            name = piece[:index].strip().strip('"')
            return name, piece[index + 1 :].strip().removesuffix(";")
        elif char in "<@,":
            return None
    return None


def _split_top_level(text: str) -> list[str]:
    """Split at ``;`` closing a group (outside quotes and angle brackets)."""
    pieces, current, quoted, angle = [], [], False, 0
    for char in text:
        current.append(char)
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "<>":
            angle += 1 if char == "<" else -1
        elif not quoted and angle <= 0 and char == ";":
            pieces.append("".join(current))
            current = []
    pieces.append("".join(current))
    return [p for p in pieces if p.strip(" ,\t\r\n")]


def envelope_of(msg: Message) -> Value:
    fields = {name: _addresses(_header(msg, name)) for name in _ENVELOPE_ADDRESS_FIELDS}
    # RFC 3501 §7.4.2: sender and reply-to default to from.
    sender = fields["sender"] or fields["from"]
    reply_to = fields["reply-to"] or fields["from"]
    return (
        _nstring(msg, "date"),
        _nstring(msg, "subject"),
        fields["from"],
        sender,
        reply_to,
        fields["to"],
        fields["cc"],
        fields["bcc"],
        _nstring(msg, "in-reply-to"),
        _nstring(msg, "message-id"),
    )


def envelope(message: bytes) -> Value:
    """The ENVELOPE of a raw message."""
    return envelope_of(_parse(message))


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def _raw_body(part: Message) -> bytes:
    # get_payload() re-decodes 8-bit text with the part's charset; the stored payload keeps the
    # raw bytes (surrogate-escaped by the bytes parser), which is what the size must count.
    payload = getattr(part, "_payload", None)
    if isinstance(payload, str):
        return payload.encode("ascii", "surrogateescape")
    buffer = BytesIO()
    for inner in _children(part):
        BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(inner)
    return buffer.getvalue()


def _line_count(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _params(part: Message, header: str = "content-type") -> Value:
    params = part.get_params(header=header) or []
    if not params and header == "content-type" and part.get_content_maintype() == "text":
        return ("CHARSET", "US-ASCII")  # RFC 2045 §5.2 default
    pairs: list[Value] = []
    for key, value in params[1:]:
        text = value if isinstance(value, str) else str(value[2])
        pairs.extend((key.upper(), text))
    return tuple(pairs) or None


def _disposition(part: Message) -> Value:
    value = part.get("content-disposition")
    if value is None:
        return None
    kind = str(value).split(";", 1)[0].strip().upper()
    return (kind, _params(part, "content-disposition"))


def _language(part: Message) -> Value:
    value = _header(part, "content-language") or ""
    return tuple(v.strip() for v in value.split(",") if v.strip()) or None


def _single(part: Message, extended: bool, depth: int) -> Value:
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    body = _raw_body(part)
    encoding = (_header(part, "content-transfer-encoding") or "7BIT").upper()
    fields: list[Value] = [maintype.upper(), subtype.upper(), _params(part)]
    fields += [_header(part, "content-id"), _header(part, "content-description")]
    fields += [encoding, len(body)]
    if maintype == "message" and subtype == "rfc822" and depth < MAX_DEPTH:
        inner = next(iter(_children(part)), None) or _parse(body)
        fields += [envelope_of(inner), _structure(inner, extended, depth + 1), _line_count(body)]
    elif maintype == "text":
        fields.append(_line_count(body))
    if extended:
        fields += [_header(part, "content-md5"), _disposition(part), _language(part)]
        fields.append(_header(part, "content-location"))
    return tuple(fields)


def _structure(part: Message, extended: bool, depth: int = 0) -> Value:
    # Past the cap a part is described as a leaf: bounded work and output for hostile nesting.
    leaf = depth >= MAX_DEPTH or not isinstance(part.get_payload(), list)
    if part.get_content_maintype() != "multipart" or leaf:
        return _single(part, extended, depth)
    children = [_structure(child, extended, depth + 1) for child in _children(part)]
    fields: list[Value] = [*children, part.get_content_subtype().upper()]
    if extended:
        fields += [_params(part), _disposition(part), _language(part)]
        fields.append(_header(part, "content-location"))
    return tuple(fields)


def bodystructure(message: bytes, *, extended: bool = True) -> Value:
    """BODYSTRUCTURE (``extended``) or BODY (without extension data) of a raw message."""
    return _structure(_parse(message), extended)
