"""Pure pieces of the outbound SMTP client: replies, EHLO keywords, parameters, dot-stuffing.

No I/O here; ``mss.relay.session`` does the talking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mss.outbound.relay import OutboundMessage, OutboundRecipient
from mss.wire.smtp_params import utf8_addr_xtext_encode, xtext_encode

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)")
_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_LINE_END = re.compile(rb"\r\n|\r|\n")
MAX_TEXT = 512  # characters of a peer's reply kept in a result


class ReplyError(ValueError):
    """A reply line that is not ``NNN[ -]text``."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A peer's reply: its code and the text of each line (code and separator removed)."""

    code: int
    lines: tuple[str, ...]

    @property
    def enhanced(self) -> str:
        """The RFC 3463 code the peer gave, else one derived from the reply code's class."""
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        if match is not None and match[1] == str(self.code)[0]:
            return f"{match[1]}.{int(match[2])}.{int(match[3])}"
        return f"{str(self.code)[0]}.0.0"

    @property
    def text(self) -> str:
        """The text of all lines, enhanced codes removed, joined by spaces, bounded."""
        parts = [_ENHANCED.sub("", line, count=1).strip() for line in self.lines]
        return " ".join(part for part in parts if part)[:MAX_TEXT]


def parse_reply_line(raw: bytes) -> tuple[int, bool, str]:
    """(code, is-last-line, text) of one reply line (RFC 5321 §4.2)."""
    line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
    code = line[:3]
    separator = line[3:4]
    if (
        len(code) != 3
        or not code.isdigit()
        or code[0] not in "2345"
        or separator not in ("", " ", "-")
    ):
        raise ReplyError("malformed reply from the peer")
    return int(code), separator != "-", "".join(ch for ch in line[4:] if ch.isprintable())


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper case) and their parameters; the first line is the greeting."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if _KEYWORD.match(keyword):
            extensions[keyword.upper()] = params.strip()
    return extensions


def dot_stuffed(body: bytes) -> bytes:
    """The DATA payload: CRLF-terminated, leading dots doubled, then ``.`` (RFC 5321 §4.5.2).

    MSS-MSG-5: a bare CR or LF is turned into CRLF first, so that no peer can read a bare
    ``<LF>.<CR><LF>`` as the end of the data and the rest as a second message (SMTP smuggling).
    """
    crlf = body.count(b"\r\n")
    if body.count(b"\n") != crlf or body.count(b"\r") != crlf:
        body = _LINE_END.sub(b"\r\n", body)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    stuffed = body.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


def mail_params(message: OutboundMessage, extensions: Iterable[str]) -> tuple[str, ...]:
    """MAIL FROM parameters for what the message needs and the peer offers."""
    offered = frozenset(extensions)
    params = [f"SIZE={len(message.body)}"] if "SIZE" in offered else []
    if message.eight_bit and "8BITMIME" in offered:
        params.append("BODY=8BITMIME")  # RFC 6152
    if needs_smtputf8(message):
        params.append("SMTPUTF8")  # RFC 6531; the caller checked that the peer offers it
    if "DSN" in offered:  # RFC 3461 §4.3, §4.4
        if message.ret is not None:
            params.append(f"RET={message.ret}")
        if message.envid is not None:
            params.append(f"ENVID={xtext_encode(message.envid)}")
    return tuple(params)


def needs_smtputf8(message: OutboundMessage) -> bool:
    """RFC 6531 §3.4: asked for at submission, or needed by a non-ASCII envelope address."""
    addresses = [message.sender, *(r.address for r in message.recipients)]
    return message.smtputf8 or not all(address.isascii() for address in addresses)


def rcpt_params(recipient: OutboundRecipient, extensions: Iterable[str]) -> tuple[str, ...]:
    """RCPT TO parameters: NOTIFY and ORCPT when the peer offers DSN (RFC 3461 §4.1, §4.2)."""
    if "DSN" not in frozenset(extensions):
        return ()
    params = []
    if recipient.notify:
        params.append("NOTIFY=" + ",".join(sorted(recipient.notify)))
    if recipient.orcpt:
        params.append("ORCPT=" + _orcpt(recipient.orcpt))
    return tuple(params)


def _orcpt(orcpt: str) -> str:
    addr_type, semicolon, address = orcpt.partition(";")
    if not semicolon:
        addr_type, address = "rfc822", orcpt
    if addr_type.lower() == "utf-8":
        return f"utf-8;{utf8_addr_xtext_encode(address)}"  # RFC 6533 §3
    return f"{addr_type};{xtext_encode(address)}"
