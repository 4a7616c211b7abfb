"""IMAP responses rendered to bytes (RFC 3501 §7): tagged, untagged, continuation, FETCH.

Values are plain Python data: ``None`` is NIL, ``int`` a number, ``str``/``bytes`` a string
(quoted when 7-bit printable without CR/LF, else a literal), :class:`Atom` is sent as is,
:class:`Literal` is always a literal, tuples are parenthesised lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from mss.wire.imap.utf7 import encode_mailbox

ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_TAGGED_STATUSES = frozenset({"OK", "NO", "BAD"})
_UNTAGGED_STATUSES = _TAGGED_STATUSES | {"PREAUTH", "BYE"}


@dataclass(frozen=True, slots=True)
class Atom:
    """Sent verbatim: flags, keywords, capability names, a rendered sequence set."""

    text: str


@dataclass(frozen=True, slots=True)
class Literal:
    """Always a literal; ``binary`` gives ``~{n}`` (RFC 3516) for content with NUL bytes."""

    data: bytes
    binary: bool = False


Value = Union[None, int, str, bytes, Atom, Literal, tuple["Value", ...]]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Code:
    """A response code: ``[UIDVALIDITY 3857529045]``, ``[PERMANENTFLAGS (\\Seen \\*)]``."""

    name: str
    args: tuple[Value, ...] = ()


@dataclass(frozen=True, slots=True)
class Tagged:
    tag: str
    status: str  # OK, NO, BAD
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Untagged:
    """``* OK [code] text``, ``* BYE ...``: an untagged status response."""

    status: str
    text: str
    code: Code | None = None


@dataclass(frozen=True, slots=True)
class Data:
    """Untagged data: ``* 23 EXISTS`` is ``Data((23, Atom("EXISTS")))``."""

    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class FetchData:
    """``* 12 FETCH (UID 4827 FLAGS (\\Seen))``; ``items`` are (response key, value) pairs."""

    number: int
    items: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Continuation:
    """``+ text``; for SASL the text is the base64 challenge (``""`` gives ``+ ``)."""

    text: str = ""


Response = Tagged | Untagged | Data | FetchData | Continuation


def _is_atom(data: bytes) -> bool:
    return bool(data) and all(0x21 <= b <= 0x7E and b not in ATOM_SPECIALS for b in data)


def render_string(value: str | bytes) -> bytes:
    """A ``string``: quoted if 7-bit printable (no CR/LF/NUL), else a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) <= 1024 and all(0x20 <= b <= 0x7E for b in data):
        escaped = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        return b'"' + escaped + b'"'
    return b"{%d}\r\n" % len(data) + data


def render_astring(value: str) -> bytes:
    """An ``astring`` (mailbox names, LIST delimiters...): an atom when possible."""
    data = value.encode("utf-8")
    if _is_atom(data) and data.upper() != b"NIL":
        return data
    return render_string(data)


def render_value(value: Value) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("IMAP numbers are unsigned")
        return str(value).encode("ascii")
    if isinstance(value, Atom):
        return _safe_text(value.text)
    if isinstance(value, Literal):
        prefix = b"~" if value.binary else b""
        return prefix + b"{%d}\r\n" % len(value.data) + value.data
    if isinstance(value, tuple):
        return b"(" + b" ".join(render_value(item) for item in value) + b")"
    return render_string(value)


def _safe_text(text: str) -> bytes:
    """Human text and atoms: 7-bit, no CR/LF (a client text must not break the line)."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text).encode("ascii")


def render_code(code: Code) -> bytes:
    parts = [_safe_text(code.name)] + [render_value(arg) for arg in code.args]
    return b"[" + b" ".join(parts) + b"]"


def _status_line(prefix: bytes, status: str, text: str, code: Code | None) -> bytes:
    allowed = _UNTAGGED_STATUSES if prefix == b"*" else _TAGGED_STATUSES
    if status not in allowed:
        raise ValueError("unknown status")
    line = prefix + b" " + status.encode("ascii") + b" "
    if code is not None:
        line += render_code(code) + b" "
    return line + (_safe_text(text) or b"done") + b"\r\n"


def render(response: Response) -> bytes:
    """The bytes of one response, CRLF included."""
    if isinstance(response, Tagged):
        return _status_line(_safe_text(response.tag), response.status, response.text, response.code)
    if isinstance(response, Untagged):
        return _status_line(b"*", response.status, response.text, response.code)
    if isinstance(response, Continuation):
        return b"+ " + _safe_text(response.text) + b"\r\n"
    if isinstance(response, FetchData):
        pairs = b" ".join(_safe_text(k) + b" " + render_value(v) for k, v in response.items)
        return b"* %d FETCH (" % response.number + pairs + b")\r\n"
    return b"* " + b" ".join(render_value(v) for v in response.values) + b"\r\n"


def mailbox_value(name: str) -> Value:
    """A mailbox name for LIST/LSUB/STATUS responses: modified UTF-7, an atom when possible."""
    encoded = encode_mailbox(name)
    data = encoded.encode("ascii")
    return Atom(encoded) if _is_atom(data) and data.upper() != b"NIL" else encoded
