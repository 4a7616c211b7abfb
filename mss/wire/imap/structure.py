"""ENVELOPE and BODYSTRUCTURE from a raw message (RFC 3501 §7.4.2).

Both return :mod:`mss.wire.imap.response` values (tuples, strings, numbers, NIL) in the exact
field order of the RFC; render them with :func:`mss.wire.imap.response.render_value`.
The structure is built on :class:`mss.wire.imap.sections.Entity`, the same splitting that
answers ``BODY[section]``, so every size and line count is that of the bytes a client fetches.
Header values are sent raw (encoded words untouched), unfolded.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import collapse_rfc2231_value

from mss.wire.imap.addresses import address_list
from mss.wire.imap.response import Value
from mss.wire.imap.sections import Entity

MAX_DEPTH = 20
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_FIELD = re.compile(rb"^([^:\s]+)[ \t]*:", re.MULTILINE)
_ENVELOPE_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")
_IDENTITY_ENCODINGS = frozenset({"7BIT", "8BIT", "BINARY"})
DEFAULT_CHARSET = "us-ascii"  # RFC 2045 §5.2
_DEFAULT_PARAMS: Value = ("CHARSET", DEFAULT_CHARSET)
_EMPTY: tuple[Value, ...] = ("TEXT", "PLAIN", _DEFAULT_PARAMS, None, None, "7BIT", 0, 0)
_EMPTY_EXTENDED: tuple[Value, ...] = (*_EMPTY, None, None, None, None)


def raw_field(header: bytes, name: str) -> bytes | None:
    """The first field ``name`` of a header section as received, unfolded and stripped."""
    wanted = name.encode("ascii")
    for match in _FIELD.finditer(header):
        if match.group(1).lower() != wanted:
            continue
        end = match.end()
        following = re.compile(rb"\r?\n(?![ \t])").search(header, end)
        value = header[end : following.start() if following else len(header)]
        return _FOLD.sub(b"", value).strip()
    return None


def _nstring(header: bytes, name: str) -> str | bytes | None:
    """A field for the envelope: text when UTF-8 (RFC 6532), else the raw bytes (a literal)."""
    raw = raw_field(header, name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _text(header: bytes, name: str) -> str | None:
    raw = raw_field(header, name)
    return None if raw is None else raw.decode("utf-8", "replace")


def envelope(message: bytes) -> Value:
    """The ENVELOPE of a raw message (or of its header alone)."""
    header = Entity.parse(message).header
    fields = {name: address_list(_text(header, name)) for name in _ENVELOPE_ADDRESS_FIELDS}
    # RFC 3501 §7.4.2: sender and reply-to, absent or empty, default to from.
    sender = fields["sender"] or fields["from"]
    reply_to = fields["reply-to"] or fields["from"]
    return (
        _nstring(header, "date"),
        _nstring(header, "subject"),
        fields["from"],
        sender,
        reply_to,
        fields["to"],
        fields["cc"],
        fields["bcc"],
        _nstring(header, "in-reply-to"),
        _nstring(header, "message-id"),
    )


def _line_count(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _param_value(value: str | tuple[str, str, str]) -> str:
    """RFC 2231 values ``(charset, language, text)`` decoded with their charset."""
    return collapse_rfc2231_value(value, errors="replace")


def _params(fields: Message, header: str = "content-type") -> Value:
    params = fields.get_params(header=header) or []
    pairs: list[Value] = []
    for key, value in params[1:]:
        pairs.extend((key.upper(), _param_value(value)))
    return tuple(pairs) or None


def _type_params(fields: Message, maintype: str) -> Value:
    params = _params(fields)
    if maintype != "text":
        return params
    present = params if isinstance(params, tuple) else ()
    if any(isinstance(k, str) and k == "CHARSET" for k in present[::2]):
        return params
    return ("CHARSET", DEFAULT_CHARSET, *present)  # RFC 2045 §5.2 default


def _disposition(fields: Message) -> Value:
    value = fields.get("content-disposition")
    if value is None:
        return None
    kind = str(value).split(";", 1)[0].strip().upper()
    if not kind:
        return None
    return (kind, _params(fields, "content-disposition"))


def _language(fields: Message) -> Value:
    value = fields.get("content-language")
    if value is None:
        return None
    return tuple(v.strip() for v in str(value).split(",") if v.strip()) or None


def _field(fields: Message, name: str) -> str | None:
    value = fields.get(name)
    return None if value is None else str(value)


def _extension(fields: Message) -> list[Value]:
    """body-fld-dsp, body-fld-lang, body-fld-loc (after md5 or the multipart parameters)."""
    return [_disposition(fields), _language(fields), _field(fields, "content-location")]


def _single(entity: Entity, fields: Message, kind: str, extended: bool, depth: int) -> Value:
    maintype, _, subtype = kind.partition("/")
    body = entity.body
    encoding = (_field(fields, "content-transfer-encoding") or "7BIT").upper()
    result: list[Value] = [maintype.upper(), subtype.upper(), _type_params(fields, maintype)]
    result += [_field(fields, "content-id"), _field(fields, "content-description")]
    result += [encoding, len(body)]
    if kind == "message/rfc822" and encoding in _IDENTITY_ENCODINGS and depth < MAX_DEPTH:
        inner = Entity.parse(body)
        nested = _structure(inner, extended, depth + 1)
        result += [envelope(inner.header), nested, _line_count(body)]
    elif maintype == "text":
        result.append(_line_count(body))
    if extended:
        result += [_field(fields, "content-md5"), *_extension(fields)]
    return tuple(result)


def _structure(entity: Entity, extended: bool, depth: int = 0) -> Value:
    fields = entity.fields()
    kind = fields.get_content_type().lower()
    # Past the cap a part is described as a leaf: bounded work and output for hostile nesting.
    if not kind.startswith("multipart/") or depth >= MAX_DEPTH:
        return _single(entity, fields, kind, extended, depth)
    children = entity.parts()
    result: list[Value] = [_structure(child, extended, depth + 1) for child in children]
    if not result:  # a multipart holds at least one part (RFC 3501 body-type-mpart)
        result.append(_EMPTY_EXTENDED if extended else _EMPTY)
    result.append(kind.partition("/")[2].upper())
    if extended:
        result += [_params(fields), *_extension(fields)]
    return tuple(result)


def bodystructure(message: bytes, *, extended: bool = True) -> Value:
    """BODYSTRUCTURE (``extended``) or BODY (without extension data) of a raw message."""
    return _structure(Entity.parse(message), extended)
