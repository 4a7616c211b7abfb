"""Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): encode text, decode strictly."""

from __future__ import annotations

import base64
import binascii

from mss.wire.imap.errors import ImapSyntaxError

_SHIFT = "&"
_UNSHIFT = "-"


def _is_direct(char: str) -> bool:
    """Printable US-ASCII stands for itself (``&`` is written ``&-``)."""
    return 0x20 <= ord(char) <= 0x7E


def _encode_run(run: str) -> str:
    try:
        raw = run.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise ImapSyntaxError("mailbox name holds a lone surrogate") from exc
    b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
    return f"{_SHIFT}{b64}{_UNSHIFT}"


def encode_mailbox(name: str) -> str:
    """Encode a mailbox name to modified UTF-7."""
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if _is_direct(char):
            if run:
                out.append(_encode_run("".join(run)))
                run = []
            out.append("&-" if char == _SHIFT else char)
        else:
            run.append(char)
    if run:
        out.append(_encode_run("".join(run)))
    return "".join(out)


def _decode_run(b64: str) -> str:
    if not b64:
        raise ImapSyntaxError("empty modified UTF-7 run")
    if len(b64) % 4 == 1:
        raise ImapSyntaxError("truncated modified UTF-7 run")
    padded = b64.replace(",", "/") + "=" * (-len(b64) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImapSyntaxError("bad base64 in modified UTF-7") from exc
    if len(raw) % 2:
        raise ImapSyntaxError("odd byte count in modified UTF-7")
    # The unused low bits must be zero, else two spellings would decode to one name.
    if base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") != b64:
        raise ImapSyntaxError("non-canonical modified UTF-7")
    try:
        text = raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise ImapSyntaxError("bad UTF-16 in modified UTF-7") from exc
    if any(_is_direct(char) for char in text):
        raise ImapSyntaxError("printable ASCII must not be base64-encoded")
    return text


def decode_mailbox(encoded: str) -> str:
    """Decode a modified UTF-7 mailbox name; anything not in canonical form is an error."""
    out: list[str] = []
    pos = 0
    previous_run_end = -1
    while pos < len(encoded):
        char = encoded[pos]
        if not _is_direct(char):
            raise ImapSyntaxError("mailbox name must be 7-bit printable")
        if char != _SHIFT:
            out.append(char)
            pos += 1
            continue
        end = encoded.find(_UNSHIFT, pos + 1)
        if end < 0:
            raise ImapSyntaxError("unterminated modified UTF-7 run")
        if end == pos + 1:
            out.append(_SHIFT)
        else:
            if previous_run_end == pos:
                raise ImapSyntaxError("adjacent modified UTF-7 runs")
            out.append(_decode_run(encoded[pos + 1 : end]))
            previous_run_end = end + 1
        pos = end + 1
    return "".join(out)
