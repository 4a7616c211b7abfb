"""MAIL and RCPT arguments: the path in angle brackets and the ESMTP parameters after it.

RFC 5321 §4.1.2 (paths), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8),
RFC 3461 (DSN: NOTIFY, ORCPT, RET, ENVID and the xtext encoding), RFC 4954 §5 (AUTH),
RFC 6533 §3 (the ``utf-8`` address type). Pure functions: text in, frozen dataclasses out,
:class:`~mss.wire.errors.WireSyntaxError` for anything malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mss.wire.errors import WireSyntaxError

MAX_ADDRESS_OCTETS = 256  # RFC 5321 §4.5.3.1.3
MAX_SIZE_DIGITS = 20
MAX_ENVID_CHARS = 100  # RFC 3461 §4.4
MAX_ORCPT_CHARS = 500  # RFC 3461 §4.2
MAX_AUTH_CHARS = 500

NOTIFY_EVENTS = frozenset({"SUCCESS", "FAILURE", "DELAY"})
NOTIFY_NEVER = "NEVER"
BODY_VALUES = frozenset({"7BIT", "8BITMIME"})
RET_VALUES = frozenset({"FULL", "HDRS"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# RFC 5321 esmtp-value is %d33-60 / %d62-126; RFC 6531 adds non-ASCII UTF-8.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x20=\x7f-\x9f\ud800-\udfff]")
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_SIZE_DIGITS}}}")
_NON_ASCII = "\u00a0-\U0010ffff"
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~" + _NON_ASCII + "]"
_DOT_STRING = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = rf"[A-Za-z0-9{_NON_ASCII}](?:[A-Za-z0-9\-{_NON_ASCII}]*[A-Za-z0-9{_NON_ASCII}])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS_LITERAL = re.compile(r"\[[!-Z^-~]+\]")  # RFC 5321 §4.1.3 dcontent: %d33-90 / %d94-126
_ROUTE_DOMAIN = r"@(?:\[[^\]]*\]|[^,:@\[\]]+)"
_SOURCE_ROUTE = re.compile(rf"{_ROUTE_DOMAIN}(?:,{_ROUTE_DOMAIN})*:")
_ADDR_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/?^_`{|}~.]+")
# RFC 3461 §4: xchar = %d33-42 / %d44-60 / %d62-126, hexchar = "+" 2HEX.
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-Fa-f]{2})*")
_XTEXT_HEX = re.compile(rb"\+([0-9A-Fa-f]{2})")
# RFC 6533 §3: QCHAR excludes "+", "=" and "\"; EmbeddedUnicodeChar is \x{HEX}.
_QCHAR = re.compile(r"[\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e]")
_UTF8_ADDR = re.compile(
    r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x5b\x5d-\x7e" + _NON_ASCII + r"]|\\x\{[0-9A-Fa-f]{1,6}\})+"
)
_EMBEDDED_CHAR = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


@dataclass(frozen=True)
class MailParams:
    """Parameters of ``MAIL FROM``; values are normalised to upper case except ENVID/AUTH."""

    size: int | None = None
    body: str | None = None  # "7BIT" or "8BITMIME"
    smtputf8: bool = False
    ret: str | None = None  # "FULL" or "HDRS"
    envid: str | None = None  # xtext-decoded, case preserved
    auth: str | None = None  # RFC 4954 §5, xtext-decoded ("<>" when unknown)


@dataclass(frozen=True)
class RcptParams:
    """Parameters of ``RCPT TO``."""

    notify: frozenset[str] = frozenset()  # subset of NOTIFY_EVENTS, or {"NEVER"}
    orcpt: tuple[str, str] | None = None  # (lower-cased addr-type, decoded address)


# --- paths ---------------------------------------------------------------------------------


def split_path(arg: str, keyword: str) -> tuple[str, str]:
    """Split ``FROM:<a@b> SIZE=10`` into ``("a@b", "SIZE=10")``; ``<>`` gives ``""``.

    ``keyword`` is ``"FROM:"`` (the null reverse-path is allowed) or ``"TO:"`` (it is not, but
    ``<Postmaster>`` without a domain is, RFC 5321 §4.1.1.3). Source routes are dropped.
    """
    head = arg[: len(keyword)]
    if not head.isascii() or head.upper() != keyword.upper():
        raise WireSyntaxError(f"expected {keyword}")
    rest = arg[len(keyword) :].lstrip(" ")
    if not rest.startswith("<"):
        raise WireSyntaxError("the path must be in angle brackets")
    end = _closing_bracket(rest)
    tail = rest[end + 1 :]
    if tail and not tail.startswith(" "):
        raise WireSyntaxError("a space must separate the path from the parameters")
    is_reverse = keyword.upper() == "FROM:"
    return _path_address(rest[1:end], is_reverse), tail.strip(" ")


def _closing_bracket(text: str) -> int:
    """Index of the ``>`` closing the path that opens ``text``, skipping quoted strings."""
    quoted = False
    escaped = False
    for index in range(1, len(text)):
        char = text[index]
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            raise WireSyntaxError("unbalanced angle brackets")
        elif not quoted and char == ">":
            return index
    raise WireSyntaxError("unbalanced angle brackets")


def _path_address(path: str, is_reverse: bool) -> str:
    if _CONTROL.search(path):
        raise WireSyntaxError("control character in the path")
    if path.startswith("@"):
        route = _SOURCE_ROUTE.match(path)
        if route is None or route.end() == len(path):
            raise WireSyntaxError("bad source route")
        path = path[route.end() :]
    if not path:
        if is_reverse:
            return ""
        raise WireSyntaxError("empty forward-path")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_ADDRESS_OCTETS:
        raise WireSyntaxError("address too long")
    if not is_reverse and path.lower() == "postmaster":
        return path
    _check_mailbox(path)
    return path


def _check_mailbox(mailbox: str) -> None:
    if mailbox.startswith('"'):
        local_end = _closing_quote(mailbox)
        at, domain = mailbox[local_end + 1 : local_end + 2], mailbox[local_end + 2 :]
    else:
        local, at, domain = mailbox.rpartition("@")
        if not _DOT_STRING.fullmatch(local):
            raise WireSyntaxError("bad local part")
    if at != "@":
        raise WireSyntaxError("the address has no domain")
    if not (_DOMAIN.fullmatch(domain) or _ADDRESS_LITERAL.fullmatch(domain)):
        raise WireSyntaxError("bad domain")


def _closing_quote(mailbox: str) -> int:
    escaped = False
    for index in range(1, len(mailbox)):
        char = mailbox[index]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return index
    raise WireSyntaxError("unterminated quoted string")


# --- parameters ----------------------------------------------------------------------------


def _parameters(text: str) -> list[tuple[str, str | None]]:
    """``KEY[=value]`` tokens separated by spaces; keywords upper-cased, values untouched."""
    seen: set[str] = set()
    result: list[tuple[str, str | None]] = []
    for token in text.split(" "):
        if not token:
            continue
        keyword, equals, value = token.partition("=")
        if not _KEYWORD.fullmatch(keyword):
            raise WireSyntaxError("bad parameter keyword")
        key = keyword.upper()
        if equals and (not value or _BAD_VALUE_CHAR.search(value)):
            raise WireSyntaxError(f"bad value for parameter {key[:40]}")
        if key in seen:
            raise WireSyntaxError(f"parameter {key[:40]} given twice")
        seen.add(key)
        result.append((key, value if equals else None))
    return result


def _required(key: str, value: str | None) -> str:
    if value is None:
        raise WireSyntaxError(f"parameter {key} needs a value")
    return value


def _choice(key: str, value: str | None, allowed: frozenset[str]) -> str:
    upper = _required(key, value).upper()
    if upper not in allowed:
        raise WireSyntaxError(f"bad value for parameter {key}")
    return upper


def _size(value: str | None) -> int:
    if not _DIGITS.fullmatch(_required("SIZE", value)):
        raise WireSyntaxError("bad value for parameter SIZE")
    return int(_required("SIZE", value))


def _xtext_param(key: str, value: str | None, limit: int) -> str:
    raw = _required(key, value)
    if len(raw) > limit:
        raise WireSyntaxError(f"parameter {key} too long")
    decoded = xtext_decode(raw)
    if _CONTROL.search(decoded):
        raise WireSyntaxError(f"control character in parameter {key}")
    return decoded


def parse_mail_params(text: str) -> MailParams:
    """Parse the parameters of ``MAIL FROM``; an unknown keyword is an error naming it."""
    params = MailParams()
    for key, value in _parameters(text):
        params = _apply_mail_param(params, key, value)
    return params


def _apply_mail_param(params: MailParams, key: str, value: str | None) -> MailParams:
    if key == "SIZE":  # RFC 1870
        return replace(params, size=_size(value))
    if key == "BODY":  # RFC 6152
        return replace(params, body=_choice(key, value, BODY_VALUES))
    if key == "SMTPUTF8":  # RFC 6531 §3.4: no value
        if value is not None:
            raise WireSyntaxError("parameter SMTPUTF8 takes no value")
        return replace(params, smtputf8=True)
    if key == "RET":  # RFC 3461 §4.3, MSS-MSG-2
        return replace(params, ret=_choice(key, value, RET_VALUES))
    if key == "ENVID":  # RFC 3461 §4.4, MSS-MSG-2
        return replace(params, envid=_xtext_param(key, value, MAX_ENVID_CHARS))
    if key == "AUTH":  # RFC 4954 §5
        return replace(params, auth=_xtext_param(key, value, MAX_AUTH_CHARS))
    raise WireSyntaxError(f"unknown MAIL parameter {key[:40]}")


def parse_rcpt_params(text: str) -> RcptParams:
    """Parse the parameters of ``RCPT TO`` (RFC 3461 NOTIFY and ORCPT, MSS-MSG-2)."""
    params = RcptParams()
    for key, value in _parameters(text):
        if key == "NOTIFY":
            params = replace(params, notify=_notify(value))
        elif key == "ORCPT":
            params = replace(params, orcpt=_orcpt(value))
        else:
            raise WireSyntaxError(f"unknown RCPT parameter {key[:40]}")
    return params


def _notify(value: str | None) -> frozenset[str]:
    """RFC 3461 §4.1: ``NEVER`` alone, or a list of SUCCESS, FAILURE, DELAY."""
    items = _required("NOTIFY", value).upper().split(",")
    events = frozenset(items)
    if events == {NOTIFY_NEVER}:
        return events
    if "" in events or not events <= NOTIFY_EVENTS:
        raise WireSyntaxError("bad value for parameter NOTIFY")
    return events


def _orcpt(value: str | None) -> tuple[str, str]:
    """RFC 3461 §4.2: ``addr-type ";" xtext``; RFC 6533 for the ``utf-8`` type."""
    raw = _required("ORCPT", value)
    if len(raw) > MAX_ORCPT_CHARS:
        raise WireSyntaxError("parameter ORCPT too long")
    addr_type, semicolon, encoded = raw.partition(";")
    if not semicolon or not _ADDR_TYPE.fullmatch(addr_type) or not encoded:
        raise WireSyntaxError("bad value for parameter ORCPT")
    addr_type = addr_type.lower()
    decode = utf8_addr_xtext_decode if addr_type == "utf-8" else xtext_decode
    address = decode(encoded)
    if not address or _CONTROL.search(address):
        raise WireSyntaxError("bad value for parameter ORCPT")
    return addr_type, address


# --- xtext ---------------------------------------------------------------------------------


def xtext_decode(text: str) -> str:
    """Decode RFC 3461 §4 xtext; the decoded octets must be UTF-8."""
    if not _XTEXT.fullmatch(text):
        raise WireSyntaxError("bad xtext")
    if "+" not in text:
        return text
    octets = _XTEXT_HEX.sub(lambda match: bytes([int(match[1], 16)]), text.encode("ascii"))
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        raise WireSyntaxError("xtext is not UTF-8") from None


def xtext_encode(text: str) -> str:
    """Encode text as RFC 3461 §4 xtext (non-ASCII as the ``+XX`` of its UTF-8 octets)."""
    return "".join(
        chr(octet) if 33 <= octet <= 126 and octet not in (43, 61) else f"+{octet:02X}"
        for octet in text.encode("utf-8")
    )


def utf8_addr_xtext_decode(text: str) -> str:
    """Decode RFC 6533 §3 utf-8-addr-xtext / -unitext (``\\x{HEX}`` escapes)."""
    if not _UTF8_ADDR.fullmatch(text):
        raise WireSyntaxError("bad utf-8 address")
    return _EMBEDDED_CHAR.sub(_embedded_char, text)


def _embedded_char(match: re.Match[str]) -> str:
    point = int(match[1], 16)
    if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
        raise WireSyntaxError("bad utf-8 address")
    return chr(point)


def utf8_addr_xtext_encode(text: str) -> str:
    """Encode as RFC 6533 §3 utf-8-addr-xtext: pure ASCII, anything else as ``\\x{HEX}``."""
    return "".join(char if _QCHAR.fullmatch(char) else f"\\x{{{ord(char):X}}}" for char in text)
