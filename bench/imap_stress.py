"""A random-mode IMAP stress checker (issue 3, "correct concurrency"), in the manner of imaptest.

    .venv/bin/python bench/imap_stress.py --spawn /tmp/stress-demo --clients 16 --seconds 60
    .venv/bin/python bench/imap_stress.py --spawn /tmp/stress-pg --database-url postgresql+asyncpg://…
    .venv/bin/python bench/imap_stress.py --manifest mss-demo/demo.json --strict --seed 7
    .venv/bin/python bench/imap_stress.py --spawn /tmp/s2 --database-url … --nodes 2 --settle 0.3
    .venv/bin/python bench/imap_stress.py … --no-reconnect --messages 3:15 --trace /tmp/traces

N clients log in as the demo PS over implicit TLS, SELECT one fresh mailbox and for S seconds run
random commands on it: FETCH / UID FETCH (flags, envelope, body structure, header fields, sizes,
bodies with and without .PEEK), STORE / UID STORE (+, -, replace, .SILENT, system flags and
keywords), SEARCH / UID SEARCH, APPEND (synchronising and LITERAL+), COPY, MOVE, EXPUNGE,
UID EXPUNGE, NOOP, CHECK, STATUS, LIST, CREATE/DELETE of other mailboxes, IDLE, SELECT with
and without CONDSTORE, CLOSE and LOGOUT with reconnection; some commands are pipelined (never a
sequence-number command behind one that may expunge, RFC 3501 §5.5).

Each client keeps its own view of the mailbox (sequence number -> UID, flags, \\Recent), built
strictly from what the server says, in order, and reports a violation when the server:

- sends ``EXPUNGE`` for number 0 or above EXISTS, while answering FETCH/STORE/SEARCH (RFC 3501
  §7.4.1), or for a message never flagged \\Deleted (nor moved); ``EXISTS`` below the current count;
- changes the UID of a sequence number, gives UIDs out of order or reuses one (APPENDUID below a
  UID already seen, UIDNEXT at or below one), changes UIDVALIDITY;
- answers a STORE with flags that do not show the change, a FETCH of a body without .PEEK without
  \\Seen, uses a keyword it did not announce in ``* FLAGS``, changes a keyword only its owner
  client touches ($Own<i>), or the ENVELOPE / size / INTERNALDATE / body structure of a UID;
- answers a SEARCH with a message that does not match, or without one that does (random keys,
  NOT / OR / lists included, checked against what the clients know of each message: size,
  subject, Date: day, INTERNALDATE day, the client's own keyword), or not with one ``* SEARCH``;
- gives a MODSEQ below one it gave for the UID, HIGHESTMODSEQ below a MODSEQ seen, a RECENT
  count that disagrees with the \\Recent flags it shows;
- omits a FETCH or STORE answer for a message that still exists; loses a message never deleted;
- answers BAD or NO to a valid command, or breaks the response grammar (always parsed: tagged and
  untagged forms, literals of the announced length, CRLF; ``--strict`` also checks every FETCH
  item's syntax: ENVELOPE and BODYSTRUCTURE shapes, dates, flags, response codes, 7-bit quoted
  strings, non-empty text).

Every ``--checkpoint`` seconds all clients stop, send NOOP (so every change must have been
reported to them), and their views are compared with each other and with a fresh EXAMINE +
``FETCH 1:* (UID FLAGS)``: same UIDs in the same order, same flags; a message \\Recent in at
most one session, and in exactly one while no session closed (imaptest's checkpoint); STATUS
gives the same MESSAGES / UNSEEN / UIDVALIDITY and a UIDNEXT above every UID. A violation whose
reason another client may not have reported yet (an EXPUNGE of a message whose \\Deleted is in
flight, an answer missing for a message that may be gone) is judged at the next checkpoint.

Prints ops/s and latency per command, how many facts each kind of check compared, then every
violation (``--trace DIR``: the failing client's recent transcript); exit status 1 on any.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCTOR_RPPS = "10001234567"
SETUP = 999  # the index of the client that creates the mailbox and its first messages
READ_TIMEOUT = 60.0  # seconds without an answer: the server is stuck
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
STORE_FLAGS = ("\\Answered", "\\Flagged", "\\Seen", "\\Draft", "$Shared1", "$Shared2", "$Shared3")
RECENT = "\\Recent"
DELETED = "\\Deleted"
SEEN = "\\Seen"
_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\}\r\n$")
_DATE_TIME = re.compile(
    r"^( \d|\d\d)-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} "
    r"\d\d:\d\d:\d\d [+-]\d{4}$"
)
_NUMBER = re.compile(r"^\d+$")
_SEQ_SET = re.compile(r"^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$")
_ATOM_SPECIALS = b'(){ %*"\\]'
_GENERIC_UNTAGGED = frozenset(
    {"CAPABILITY", "ENABLED", "ESEARCH", "ID", "NAMESPACE", "QUOTA", "QUOTAROOT", "VANISHED"}
)


# -- the response grammar (RFC 3501 §9, RFC 9051 §9) -------------------------------------------


class GrammarError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Str:
    """A quoted string or a literal."""

    data: bytes
    literal: bool = False

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


Token = str | Str | list["Token"]  # str: an atom (numbers, NIL, \Flags, BODY[...]<n>)


@dataclass(slots=True)
class Response:
    raw: bytes
    tag: str  # "*", "+" or the command's tag
    kind: str  # OK/NO/BAD/BYE/PREAUTH, EXISTS/RECENT/EXPUNGE/FETCH, FLAGS, SEARCH, ..., "+"
    number: int = 0
    code: str = ""  # the response code's name
    code_args: list[Token] = field(default_factory=list)
    text: str = ""
    values: list[Token] = field(default_factory=list)
    items: dict[str, Token] = field(default_factory=dict)  # FETCH data, names upper-cased


class Parser:
    """One whole response (literals included) from its first byte to its final CRLF."""

    def __init__(self, data: bytes, strict: bool) -> None:
        self.data = data
        self.pos = 0
        self.strict = strict

    def fail(self, what: str) -> GrammarError:
        return GrammarError(f"{what} at byte {self.pos}")

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def expect(self, token: bytes) -> None:
        if not self.data.startswith(token, self.pos):
            raise self.fail(f"expected {token!r}")
        self.pos += len(token)

    def sp(self) -> None:
        self.expect(b" ")

    def at_crlf(self) -> bool:
        return self.data.startswith(b"\r\n", self.pos)

    def end(self) -> None:
        if not self.at_crlf() or self.pos + 2 != len(self.data):
            raise self.fail("expected CRLF at the end of the response")

    def atom(self, *, brackets: bool = False, stop: bytes = b"") -> str:
        start = self.pos
        data = self.data
        while self.pos < len(data):
            c = data[self.pos]
            if brackets and c == 0x5B:  # "[" of BODY[...]: balanced up to "]"
                close = data.find(b"]", self.pos)
                if close < 0 or b"\r\n" in data[self.pos : close]:
                    raise self.fail("unterminated section")
                self.pos = close + 1
                continue
            if c <= 0x20 or c >= 0x7F or c in _ATOM_SPECIALS or c in stop:
                if c == 0x5D and brackets:  # "]" only inside a section
                    raise self.fail("stray ']'")
                break
            self.pos += 1
        if self.pos == start:
            raise self.fail("expected an atom")
        return data[start : self.pos].decode("ascii")

    def flag(self) -> str:
        if self.peek() == 0x5C:  # "\"
            self.pos += 1
            if self.peek() == 0x2A:  # "\*"
                self.pos += 1
                return "\\*"
            return "\\" + self.atom()
        return self.atom()

    def quoted(self) -> Str:
        self.expect(b'"')
        out = bytearray()
        data = self.data
        while True:
            if self.pos >= len(data):
                raise self.fail("unterminated quoted string")
            c = data[self.pos]
            if c == 0x22:
                self.pos += 1
                return Str(bytes(out))
            if c == 0x5C:
                nxt = data[self.pos + 1] if self.pos + 1 < len(data) else -1
                if nxt not in (0x22, 0x5C):
                    raise self.fail("bad escape in a quoted string")
                out.append(nxt)
                self.pos += 2
                continue
            if c in (0x0D, 0x0A, 0x00):
                raise self.fail("CR, LF or NUL in a quoted string")
            if c >= 0x80 and self.strict:
                raise self.fail("8-bit byte in a quoted string (RFC 3501 quoted is 7-bit)")
            out.append(c)
            self.pos += 1

    def literal(self) -> Str:
        if self.peek() == 0x7E:  # "~" literal8 (RFC 3516)
            self.pos += 1
        self.expect(b"{")
        close = self.data.find(b"}", self.pos)
        digits = self.data[self.pos : close] if close > 0 else b""
        if not digits.isdigit():
            raise self.fail("bad literal length")
        self.pos = close + 1
        self.expect(b"\r\n")
        size = int(digits)
        if self.pos + size > len(self.data):
            raise self.fail("literal shorter than announced")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return Str(value, literal=True)

    def value(self, *, brackets: bool = False) -> Token:
        c = self.peek()
        if c == 0x28:
            return self.list_(brackets=brackets)
        if c == 0x22:
            return self.quoted()
        if c in (0x7B, 0x7E):
            return self.literal()
        if c == 0x5C:
            return self.flag()
        return self.atom(brackets=brackets)

    def list_(self, *, brackets: bool = False, stop: bytes = b")") -> list[Token]:
        self.expect(b"(")
        out: list[Token] = []
        while self.peek() != 0x29:
            if out:
                self.sp()
            out.append(self.value(brackets=brackets))
        self.pos += 1
        return out

    def values_to_end(self, stop: int = -1) -> list[Token]:
        out: list[Token] = []
        while not self.at_crlf() and self.peek() != stop:
            self.sp()
            out.append(self.value())
        return out

    def text(self) -> str:
        end = self.data.find(b"\r\n", self.pos)
        if end < 0:
            raise self.fail("no CRLF")
        text = self.data[self.pos : end]
        if b"\r" in text or b"\n" in text or b"\x00" in text:
            raise self.fail("CR, LF or NUL in text")
        self.pos = end
        return text.decode("utf-8", "replace")


def parse_response(data: bytes, strict: bool) -> Response:
    p = Parser(data, strict)
    if data.startswith(b"+"):
        p.pos = 1
        text = ""
        if p.peek() == 0x20:
            p.pos += 1
            text = p.text()
        p.end()
        return Response(data, "+", "+", text=text)
    if data.startswith(b"* "):
        tag = "*"
        p.pos = 1
    else:
        tag = p.atom(stop=b"+")
    p.sp()
    if tag != "*":
        status = p.atom().upper()
        if status not in ("OK", "NO", "BAD"):
            raise p.fail(f"tagged status {status!r}")
        response = Response(data, tag, status)
        _resp_text(p, response)
        return response
    word = p.atom()
    if _NUMBER.match(word):
        p.sp()
        kind = p.atom().upper()
        response = Response(data, "*", kind, number=int(word))
        if kind == "FETCH":
            p.sp()
            items = p.list_(brackets=True)
            response.items = _fetch_items(items, strict)
        elif kind not in ("EXISTS", "RECENT", "EXPUNGE"):
            raise p.fail(f"unknown numbered response {kind}")
        p.end()
        return response
    kind = word.upper()
    response = Response(data, "*", kind)
    if kind in ("OK", "NO", "BAD", "BYE", "PREAUTH"):
        _resp_text(p, response)
        return response
    if kind == "FLAGS":
        p.sp()
        response.values = [p.list_()]
    elif kind in ("LIST", "LSUB"):
        p.sp()
        response.values = [p.list_(), *p.values_to_end()]
        if len(response.values) < 3:
            raise p.fail("short LIST response")
    elif kind == "STATUS":
        response.values = p.values_to_end()
        if len(response.values) != 2 or not isinstance(response.values[1], list):
            raise p.fail("STATUS: mailbox SP (att value ...)")
    elif kind == "SEARCH":
        response.values = p.values_to_end()
        for value in response.values:
            if isinstance(value, str) and not _NUMBER.match(value):
                raise p.fail(f"SEARCH result {value!r} is not a number")
    elif kind in _GENERIC_UNTAGGED:
        response.values = p.values_to_end()
    else:
        raise p.fail(f"unknown untagged response {kind}")
    p.end()
    return response


def _resp_text(p: Parser, response: Response) -> None:
    if p.at_crlf():
        if p.strict:
            raise p.fail("resp-text without text (RFC 3501: text = 1*TEXT-CHAR)")
        p.end()
        return
    p.sp()
    if p.peek() == 0x5B:
        p.pos += 1
        response.code = p.atom(stop=b"]").upper()
        if p.peek() == 0x20:
            response.code_args = p.values_to_end(stop=0x5D)
        p.expect(b"]")
        if p.at_crlf():
            if p.strict:
                raise p.fail("response code without text")
            p.end()
            return
        p.sp()
    response.text = p.text()
    if p.strict and not response.text:
        raise p.fail("empty resp-text")
    p.end()
    if p.strict:
        _check_code(response)


def _check_code(response: Response) -> None:
    code, args = response.code, response.code_args
    numeric = {"UIDVALIDITY": 1, "UIDNEXT": 1, "UNSEEN": 1, "HIGHESTMODSEQ": 1}
    if code in numeric and (
        len(args) != 1 or not _is_number(args[0], nonzero=code != "HIGHESTMODSEQ")
    ):
        raise GrammarError(f"[{code}] needs one number: {args!r}")
    if code == "PERMANENTFLAGS":
        if len(args) != 1 or not isinstance(args[0], list):
            raise GrammarError("[PERMANENTFLAGS] needs a flag list")
        _check_flags(args[0], allow_star=True, allow_recent=False)
    if code == "APPENDUID" and (
        len(args) != 2 or not _is_number(args[0], nonzero=True) or not _is_set(args[1])
    ):
        raise GrammarError(f"[APPENDUID] uidvalidity uid-set: {args!r}")
    if code == "COPYUID" and (
        len(args) != 3
        or not _is_number(args[0], nonzero=True)
        or not all(_is_set(a) for a in args[1:])
    ):
        raise GrammarError(f"[COPYUID] uidvalidity set set: {args!r}")


def _is_number(token: Token, *, nonzero: bool = False) -> bool:
    return isinstance(token, str) and bool(_NUMBER.match(token)) and (not nonzero or int(token) > 0)


def _is_set(token: Token) -> bool:
    return isinstance(token, str) and bool(_SEQ_SET.match(token))


def _is_nstring(token: Token) -> bool:
    return isinstance(token, Str) or token == "NIL"  # noqa: S105 (not a password)


def _check_flags(flags: list[Token], *, allow_star: bool, allow_recent: bool) -> None:
    for flag in flags:
        if not isinstance(flag, str):
            raise GrammarError(f"flag {flag!r} is not an atom")
        if flag == "\\*" and not allow_star:
            raise GrammarError("\\* outside PERMANENTFLAGS")
        if flag.lower() == RECENT.lower() and not allow_recent:
            raise GrammarError("\\Recent where it may not appear")


def _fetch_items(items: list[Token], strict: bool) -> dict[str, Token]:
    if len(items) % 2 or not items:
        raise GrammarError("FETCH data is not name/value pairs")
    found: dict[str, Token] = {}
    for name, value in zip(items[::2], items[1::2], strict=True):
        if not isinstance(name, str):
            raise GrammarError(f"FETCH item name {name!r}")
        key = name.upper()
        if key in found:
            raise GrammarError(f"FETCH item {key} twice in one response")
        found[key] = value
        if strict:
            _check_fetch_item(key, value)
    return found


def _check_fetch_item(key: str, value: Token) -> None:
    if key == "UID":
        if not _is_number(value, nonzero=True):
            raise GrammarError(f"UID {value!r}")
    elif key == "FLAGS":
        if not isinstance(value, list):
            raise GrammarError("FLAGS is not a list")
        _check_flags(value, allow_star=False, allow_recent=True)
    elif key == "INTERNALDATE":
        if not isinstance(value, Str) or value.literal or not _DATE_TIME.match(value.text()):
            raise GrammarError(f"INTERNALDATE {value!r}")
    elif key in ("RFC822.SIZE",) or key.startswith("BINARY.SIZE["):
        if not _is_number(value):
            raise GrammarError(f"{key} {value!r}")
    elif key == "MODSEQ":
        if not isinstance(value, list) or len(value) != 1 or not _is_number(value[0]):
            raise GrammarError(f"MODSEQ {value!r}")
    elif key == "ENVELOPE":
        _check_envelope(value)
    elif key == "BODYSTRUCTURE":
        _check_body(value, extended=True)
    elif key == "BODY":
        _check_body(value, extended=False)
    elif key.startswith(("BODY[", "BINARY[")) or key in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
        if not _is_nstring(value):
            raise GrammarError(f"{key} is not an nstring")
    else:
        raise GrammarError(f"unknown FETCH item {key}")


def _check_envelope(value: Token) -> None:
    if not isinstance(value, list) or len(value) != 10:
        raise GrammarError("ENVELOPE is not a list of 10")
    for index in (0, 1, 8, 9):
        if not _is_nstring(value[index]):
            raise GrammarError(f"ENVELOPE field {index + 1} is not an nstring")
    for index in range(2, 8):
        addresses = value[index]
        if addresses == "NIL":
            continue
        if not isinstance(addresses, list) or not addresses:
            raise GrammarError(f"ENVELOPE address list {index + 1}: {addresses!r}")
        for address in addresses:
            if not isinstance(address, list) or len(address) != 4:
                raise GrammarError(f"ENVELOPE address {address!r}")
            if not all(_is_nstring(part) for part in address):
                raise GrammarError(f"ENVELOPE address part {address!r}")


def _check_params(value: Token) -> None:
    if value == "NIL":
        return
    if not isinstance(value, list) or not value or len(value) % 2:
        raise GrammarError(f"body parameters {value!r}")
    if not all(isinstance(v, Str) for v in value):
        raise GrammarError(f"body parameters are not strings {value!r}")


def _check_body(value: Token, *, extended: bool) -> None:
    if not isinstance(value, list) or not value:
        raise GrammarError("body is not a list")
    if isinstance(value[0], list):  # multipart: 1*body SP subtype [ext]
        parts = 0
        while parts < len(value) and isinstance(value[parts], list):
            _check_body(value[parts], extended=extended)
            parts += 1
        rest = value[parts:]
        if not rest or not isinstance(rest[0], Str):
            raise GrammarError("multipart body without a subtype string")
        if not extended and len(rest) != 1:
            raise GrammarError("BODY (not BODYSTRUCTURE) with extension data")
        if extended and len(rest) > 1:
            _check_params(rest[1])
        return
    if len(value) < 7:
        raise GrammarError(f"body part with {len(value)} fields")
    kind, subtype, params, ident, desc, enc, size = value[:7]
    if not isinstance(kind, Str) or not isinstance(subtype, Str):
        raise GrammarError("body type/subtype are not strings")
    _check_params(params)
    if not _is_nstring(ident) or not _is_nstring(desc) or not isinstance(enc, Str):
        raise GrammarError("body id/description/encoding")
    if not _is_number(size):
        raise GrammarError(f"body size {size!r}")
    base = 7
    media = (kind.text().upper(), subtype.text().upper())
    if media == ("MESSAGE", "RFC822"):
        if len(value) < 10:
            raise GrammarError("message/rfc822 part without envelope, body and lines")
        _check_envelope(value[7])
        _check_body(value[8], extended=extended)
        if not _is_number(value[9]):
            raise GrammarError("message/rfc822 lines")
        base = 10
    elif media[0] == "TEXT":
        if len(value) < 8 or not _is_number(value[7]):
            raise GrammarError("text part without a line count")
        base = 8
    if not extended and len(value) != base:
        raise GrammarError("BODY (not BODYSTRUCTURE) with extension data")


# -- one connection ----------------------------------------------------------------------------


class Violations:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.counts: Counter[str] = Counter()

    def add(self, who: str, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= 20:  # enough of one kind to see the pattern
            self.found.append(f"{who}: {kind}: {detail}")


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.capabilities: set[str] = set()

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext) -> Connection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost", limit=1 << 22
        )
        return cls(reader, writer)

    async def read(self) -> bytes:
        """One response, literals included; its lines must end with CRLF. A server silent for
        ``READ_TIMEOUT`` seconds is a violation (TimeoutError), not a hung run."""
        parts: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), READ_TIMEOUT)
            if not line.endswith(b"\n"):
                raise ConnectionError("closed by the server")
            if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
                raise GrammarError(f"line not ended by CRLF: {line[:80]!r}")
            parts.append(line)
            found = _LITERAL_AT_END.search(line)
            if found is None:
                return b"".join(parts)
            size = int(found.group(1))
            parts.append(await asyncio.wait_for(self.reader.readexactly(size), READ_TIMEOUT))

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


# -- what every client knows about everyone ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    size: int
    subject: str
    sent: int  # the day in March 2026 of its Date: field, as written


@dataclass
class Shared:
    """Facts the clients pool: what they did and what the server told them."""

    uidvalidity: int = 0
    max_uid: int = 0  # highest UID ever seen in the mailbox (expunged ones included)
    appended: dict[int, tuple[str, int, int]] = field(
        default_factory=dict
    )  # uid -> msgid, size, client
    assigned: set[int] = field(default_factory=set)  # UIDs from APPENDUID / COPYUID
    deleted: set[int] = field(default_factory=set)  # UIDs that were ever given \Deleted
    moved: set[int] = field(default_factory=set)
    expunged: set[int] = field(default_factory=set)
    static: dict[tuple[int, str], Any] = field(default_factory=dict)  # (uid, item) -> value
    owned: dict[tuple[int, int], bool] = field(default_factory=dict)  # (client, uid) -> $Own set
    facts: dict[int, Facts] = field(default_factory=dict)  # what SEARCH can be checked against
    unanswered: dict[int, str] = field(default_factory=dict)  # uid -> why it should be gone
    suspects: dict[int, str] = field(default_factory=dict)  # expunged, \Deleted not known yet
    closed_sessions: int = 0
    max_modseq: int = 0  # the highest MODSEQ any client was told


@dataclass
class Pending:
    tag: str
    text: str  # the command for reports (no literal)
    verb: str  # for the statistics: FETCH, UID FETCH, ...
    no_expunge: bool = False  # FETCH, STORE, SEARCH: no EXPUNGE while answering (§7.4.1)
    may_fail: bool = False  # NO is a fine answer (CREATE of an existing mailbox, ...)
    started: float = 0.0
    continuation: bytes | None = None  # a synchronising literal waiting for "+"
    targets: dict[int, int] = field(default_factory=dict)  # uid -> seq at send time
    seen: dict[int, list[frozenset[str]]] = field(default_factory=dict)  # uid -> FLAGS received
    expunged: list[int] = field(default_factory=list)
    check: Callable[[Pending, Response], None] | None = None
    result: Response | None = None
    search: list[int] = field(default_factory=list)
    searches: int = 0  # ``* SEARCH`` responses: exactly one per SEARCH
    copyuid: list[Token] = field(default_factory=list)


def _uid_set(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def _compress(numbers: Sequence[int]) -> str:
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in spans)


# Date: fields and their day "disregarding time and timezone" (RFC 3501 SENTON: as written)
SENT_DATES = (
    ("Mon, 02 Mar 2026 10:00:00 +0100", 2),
    ("Mon, 02 Mar 2026 23:30:00 -0500", 2),  # 3 March in UTC
    ("Tue, 03 Mar 2026 00:30:00 +0200", 3),  # 2 March in UTC
)
# APPEND dates (None: the time of the APPEND), days apart in UTC and in their own zone
INTERNAL_DATES = (
    "02-Mar-2026 10:00:00 +0100",
    "03-Mar-2026 00:30:00 +0200",
    "02-Mar-2026 23:30:00 -0500",
    None,
)


def internal_day(shown: Any) -> date | None:
    """The day of an INTERNALDATE as FETCH showed it (bytes), in the zone it shows."""
    if not isinstance(shown, bytes):
        return None
    try:
        return datetime.strptime(shown.decode().strip(), "%d-%b-%Y %H:%M:%S %z").date()
    except ValueError:
        return None


def message_bytes(msgid: str, rng: random.Random, sent: str) -> bytes:
    head = (
        f"From: Dr Stress <stress@hopital.mssante.fr>\r\nTo: <doc@hopital.mssante.fr>\r\n"
        f"Subject: stress {msgid[1:9]}\r\nDate: {sent}\r\n"
        f"Message-ID: {msgid}\r\nMIME-Version: 1.0\r\n"
    )
    text = "Lorem ipsum dolor sit amet.\r\n" * rng.randint(1, 60)
    if rng.random() < 0.02:  # now and then a body kept as a blob file (above storage.inline_max)
        text = "Lorem ipsum dolor sit amet.\r\n" * 10_000
    if rng.random() < 0.3:
        boundary = "b" + secrets.token_hex(6)
        body = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}"
            f"--{boundary}\r\nContent-Type: application/pdf; name=cr.pdf\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n"
            f"--{boundary}--\r\n"
        )
    else:
        body = f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}"
    return (head + body).encode()


# -- a client and its view ---------------------------------------------------------------------


class Client:
    def __init__(self, run: Stress, index: int) -> None:
        self.run = run
        self.index = index
        self.name = f"client {index}"
        self.rng = random.Random(run.seed * 1000 + index)
        self.conn: Connection | None = None
        self.counter = 0
        self.pending: list[Pending] = []
        self.selected = False
        # the view: sequence number - 1 -> UID (0: not known yet), flags (None: not known)
        self.uids: list[int] = []
        self.flags: list[frozenset[str] | None] = []
        self.recent: set[int] = set()
        self.keywords: set[str] = set()
        self.own = f"$Own{index}"
        self.mine: set[int] = set()  # UIDs this client appended (only it replaces their flags)
        self.gone: set[int] = set()  # UIDs expunged in this client's sessions
        self.transcript: deque[bytes] = deque(maxlen=4000)  # for --trace
        self.modseqs: dict[int, int] = {}  # uid -> the highest MODSEQ this client was told
        self.recent_count: int | None = None  # the last * n RECENT, less \Recent ones expunged

    # -- wire ---------------------------------------------------------------------------------

    def violation(self, kind: str, detail: str) -> None:
        self.run.violations.add(self.name, kind, detail)
        self.run.dump(self, f"{kind}: {detail}")

    async def connect(self) -> None:
        run = self.run
        self.conn = await Connection.open(run.ports[self.index % len(run.ports)], run.context)
        greeting = await self.read_one()
        if greeting.kind != "OK":
            raise RuntimeError(f"greeting {greeting.raw!r}")
        account = run.account
        await self.command(f'LOGIN "{account["address"]}" "{account["password"]}"', "LOGIN")
        untagged: list[Response] = []
        await self.command("CAPABILITY", "CAPABILITY", collect=untagged)
        for response in untagged:
            if response.kind == "CAPABILITY":
                self.conn.capabilities = {str(v).upper() for v in response.values}

    async def read_one(self) -> Response:
        assert self.conn is not None
        raw = await self.conn.read()
        self.transcript.append(b"S: " + raw[:300])
        try:
            return parse_response(raw, self.run.strict)
        except GrammarError as exc:
            self.violation("grammar", f"{exc}: {raw[:300]!r}")
            tag = raw.split(b" ", 1)[0].decode("ascii", "replace")
            return Response(raw, tag, "?")  # an untagged one is ignored, a tagged one ends

    def send(
        self,
        text: str,
        verb: str,
        *,
        literal: bytes | None = None,
        nonsync: bool | None = None,
        **kw: Any,
    ) -> Pending:
        """Write one command; a synchronising literal waits for ``+`` (so nothing may be
        pipelined behind it)."""
        assert self.conn is not None
        self.counter += 1
        tag = f"c{self.index}x{self.counter}"
        pending = Pending(tag, text, verb, started=time.perf_counter(), **kw)
        self.transcript.append(f"C: {tag} {text}".encode())
        plus = "LITERAL+" in self.conn.capabilities
        if nonsync is None:
            nonsync = plus and self.rng.random() < 0.5
        if literal is None:
            self.conn.write(f"{tag} {text}\r\n".encode())
        elif nonsync and plus:
            self.conn.write(f"{tag} {text} {{{len(literal)}+}}\r\n".encode() + literal + b"\r\n")
        else:
            self.conn.write(f"{tag} {text} {{{len(literal)}}}\r\n".encode())
            pending.continuation = literal + b"\r\n"
        self.pending.append(pending)
        return pending

    async def finish(
        self, collect: list[Response] | None = None, first: Response | None = None
    ) -> None:
        """Read until every pending command has its tagged reply."""
        while self.pending:
            response = first if first is not None else await self.read_one()
            first = None
            current = self.pending[0]
            if response.tag == "+":
                waiting = next((p for p in self.pending if p.continuation is not None), None)
                if waiting is None:
                    self.violation("protocol", f"unexpected continuation {response.raw!r}")
                    continue
                assert self.conn is not None
                self.conn.write(waiting.continuation or b"")
                waiting.continuation = None
                continue
            if response.tag == "*":
                if collect is not None:
                    collect.append(response)
                self.untagged(current, response)
                continue
            if response.tag != current.tag:
                self.violation("protocol", f"tagged reply {response.tag} while {current.tag} runs")
                self.pending = [p for p in self.pending if p.tag != response.tag]
                continue
            self.pending.pop(0)
            current.result = response
            self.run.record(current.verb, time.perf_counter() - current.started)
            if response.kind == "BAD" or (response.kind != "OK" and not current.may_fail):
                self.violation("refused", f"{current.text!r} -> {response.raw[:200]!r}")
            if current.check is not None:
                current.check(current, response)

    async def command(
        self, text: str, verb: str, *, collect: list[Response] | None = None, **kw: Any
    ) -> Pending:
        pending = self.send(text, verb, **kw)
        assert self.conn is not None
        await self.conn.writer.drain()
        await self.finish(collect)
        return pending

    # -- the view -----------------------------------------------------------------------------

    def untagged(self, current: Pending, response: Response) -> None:
        kind = response.kind
        if kind == "EXISTS":
            n = response.number
            if n < len(self.uids):
                self.violation(
                    "EXISTS backwards", f"{len(self.uids)} -> {n} during {current.text!r}"
                )
                return
            grow = n - len(self.uids)
            self.uids.extend([0] * grow)
            self.flags.extend([None] * grow)
        elif kind == "EXPUNGE":
            self.expunge(current, response.number)
        elif kind == "RECENT":
            self.recent_count = response.number
            if response.number > len(self.uids):
                self.violation(
                    "RECENT", f"* {response.number} RECENT with {len(self.uids)} messages"
                )
        elif kind == "FETCH":
            self.fetched(current, response)
        elif kind == "FLAGS" and response.values and isinstance(response.values[0], list):
            self.keywords = {str(f) for f in response.values[0]}
            missing = [f for f in SYSTEM_FLAGS if f not in self.keywords]
            if missing:
                self.violation("FLAGS", f"system flags missing from * FLAGS: {missing}")
        elif kind == "SEARCH":
            current.searches += 1
            current.search.extend(int(str(v)) for v in response.values if isinstance(v, str))
        elif kind == "OK" and response.code == "COPYUID":
            current.copyuid = response.code_args
            self.moved_out(response.code_args)
        elif kind == "BYE" and current.verb != "LOGOUT":
            self.violation("BYE", f"unexpected BYE {response.raw!r}")
        elif kind in ("NO", "BAD"):
            self.violation("untagged", f"{response.raw!r}")

    def moved_out(self, args: list[Token]) -> None:
        if len(args) == 3 and isinstance(args[1], str):
            self.run.shared.moved.update(_uid_set(args[1]))

    def expunge(self, current: Pending, n: int) -> None:
        if current.no_expunge:
            self.violation("EXPUNGE forbidden", f"* {n} EXPUNGE while answering {current.text!r}")
        if n < 1 or n > len(self.uids):
            self.violation("EXPUNGE out of range", f"* {n} EXPUNGE with {len(self.uids)} messages")
            return
        uid = self.uids.pop(n - 1)
        if self.flags.pop(n - 1) is None:
            self.recent_count = None  # was it \Recent? unknown until the next * n RECENT
        elif uid in self.recent and self.recent_count is not None:
            self.recent_count -= 1
        if uid:
            shared = self.run.shared
            if uid not in shared.deleted and uid not in shared.moved:  # judged at the checkpoint
                shared.suspects.setdefault(uid, f"* {n} EXPUNGE to {self.name}")
            shared.expunged.add(uid)
            self.gone.add(uid)
            self.recent.discard(uid)
            current.expunged.append(uid)

    def fetched(self, current: Pending, response: Response) -> None:
        n = response.number
        if n < 1 or n > len(self.uids):
            self.violation("FETCH out of range", f"* {n} FETCH with {len(self.uids)} messages")
            return
        items = response.items
        uid = self.uids[n - 1]
        value = items.get("UID")
        if isinstance(value, str) and value.isdigit():
            got = int(value)
            if uid and got != uid:
                self.violation("UID changed", f"seq {n}: UID {uid} -> {got} ({current.text!r})")
            elif not uid:
                lower = max((u for u in self.uids[: n - 1] if u), default=0)
                upper = min((u for u in self.uids[n:] if u), default=1 << 62)
                if not lower < got < upper:
                    self.violation(
                        "UID order", f"seq {n} UID {got} not between {lower} and {upper}"
                    )
                if got in self.gone:
                    self.violation("UID reused", f"UID {got} was expunged before")
                self.uids[n - 1] = uid = got
                self.run.shared.max_uid = max(self.run.shared.max_uid, got)
        flags = items.get("FLAGS")
        if isinstance(flags, list):
            names = frozenset(str(f) for f in flags)
            for name in names:
                if not name.startswith("\\") and name not in self.keywords:
                    self.violation(
                        "keyword not in FLAGS", f"{name} (announced: {sorted(self.keywords)})"
                    )
            if uid and RECENT in names:
                self.recent.add(uid)
            plain = names - {RECENT}
            self.flags[n - 1] = plain
            if uid:
                current.seen.setdefault(uid, []).append(plain)
                if not (current.verb.endswith("STORE") and uid in current.targets):
                    self.check_owned(uid, plain)  # a STORE's own answers: checked at its end
        told = items.get("MODSEQ")
        if uid and isinstance(told, list) and told and isinstance(told[0], str):
            modseq = int(told[0])
            if modseq < self.modseqs.get(uid, 0):
                self.violation("MODSEQ backwards", f"UID {uid}: {self.modseqs[uid]} -> {modseq}")
            self.modseqs[uid] = modseq
            self.run.shared.max_modseq = max(self.run.shared.max_modseq, modseq)
        if uid:
            self.check_static(uid, items)

    def check_owned(self, uid: int, flags: frozenset[str]) -> None:
        expected = self.run.shared.owned.get((self.index, uid))
        if expected is not None:
            self.run.checked["owned keyword"] += 1
        if expected is not None and (self.own in flags) != expected:
            state = "lost" if expected else "gained"
            self.violation("owned keyword changed", f"UID {uid} {state} {self.own}")

    def check_static(self, uid: int, items: dict[str, Token]) -> None:
        shared = self.run.shared
        known = shared.appended.get(uid)
        for key, value in items.items():
            if key in ("UID", "FLAGS", "MODSEQ"):
                continue
            frozen = _freeze(value)
            self.run.checked["static item"] += 1
            old = shared.static.setdefault((uid, key), frozen)
            if old != frozen:
                self.violation("message changed", f"UID {uid} {key}: {old!r:.80} -> {frozen!r:.80}")
            if known is None:
                continue
            msgid, size, _ = known
            if key == "RFC822.SIZE" and value != str(size):
                self.violation("wrong size", f"UID {uid} RFC822.SIZE {value} != appended {size}")
            if key == "ENVELOPE" and isinstance(value, list) and len(value) == 10:
                got = value[9]
                if not isinstance(got, Str) or got.text() != msgid:
                    self.violation("wrong message", f"UID {uid} Message-ID {got!r} != {msgid}")

    def reset_view(self) -> None:
        self.uids, self.flags, self.recent = [], [], set()
        self.recent_count = None
        self.selected = False

    # -- operations ---------------------------------------------------------------------------

    def known(self) -> list[tuple[int, int]]:
        return [(i + 1, u) for i, u in enumerate(self.uids) if u]

    def pick(self, count: int) -> list[tuple[int, int]]:
        known = self.known()
        return self.rng.sample(known, min(count, len(known))) if known else []

    async def select(self) -> None:
        run = self.run
        self.reset_view()
        untagged: list[Response] = []
        seen_before = run.shared.max_uid  # UIDs given out later may be above UIDNEXT
        modseq_before = run.shared.max_modseq
        condstore = " (CONDSTORE)" if self.rng.random() < 0.3 else ""  # RFC 7162
        pending = await self.command(
            f'SELECT "{run.mailbox}"{condstore}', "SELECT", collect=untagged
        )
        if pending.result is None or pending.result.kind != "OK":
            raise RuntimeError(f"SELECT failed: {pending.result!r}")
        shared = run.shared
        for response in untagged:
            if response.code == "UIDVALIDITY" and response.code_args:
                value = int(str(response.code_args[0]))
                if shared.uidvalidity and value != shared.uidvalidity:
                    self.violation("UIDVALIDITY changed", f"{shared.uidvalidity} -> {value}")
                shared.uidvalidity = value
            if response.code == "HIGHESTMODSEQ" and response.code_args:
                value = int(str(response.code_args[0]))
                if value < modseq_before:
                    self.violation("HIGHESTMODSEQ", f"{value} below MODSEQ {modseq_before} seen")
            if response.code == "UIDNEXT" and response.code_args:
                value = int(str(response.code_args[0]))
                if value <= seen_before:
                    self.violation("UIDNEXT too low", f"UIDNEXT {value} <= UID {seen_before} seen")
        self.selected = True
        await self.sync()

    async def sync(self) -> None:
        """FETCH (UID FLAGS) of the messages whose UID this view does not know."""
        unknown = [i + 1 for i, u in enumerate(self.uids) if not u]
        if unknown:
            text = f"FETCH {_compress(unknown)} (UID FLAGS)"
            await self.command(text, "FETCH", no_expunge=True, check=self.check_fetch)

    def check_fetch(self, pending: Pending, response: Response) -> None:
        """Every message the FETCH named got an answer, unless it was expunged meanwhile."""
        for uid in pending.targets:
            if uid not in pending.seen and uid not in self.run.shared.expunged:
                self.run.shared.unanswered.setdefault(uid, f"{pending.text!r} by {self.name}")

    def check_store(self, op: str, flags: frozenset[str]) -> Callable[[Pending, Response], None]:
        def check(pending: Pending, response: Response) -> None:
            if response.kind != "OK":
                return
            shared = self.run.shared
            for uid in pending.targets:
                if uid in shared.expunged:
                    continue
                if op != "-" and DELETED in flags:
                    shared.deleted.add(uid)
                if self.own in flags and not (op == "" and uid not in self.mine):
                    shared.owned[(self.index, uid)] = op != "-"
                elif op == "" and uid in self.mine:
                    shared.owned[(self.index, uid)] = False
                if ".SILENT" in pending.text:  # nothing says it: the client applies it itself,
                    if uid not in pending.seen and uid in self.uids:  # as of the STORE's turn
                        at = self.uids.index(uid)
                        old = self.flags[at]
                        if old is not None:
                            self.flags[at] = (
                                old | flags if op == "+" else old - flags if op == "-" else flags
                            )
                    continue
                seen = pending.seen.get(uid)
                if not seen:
                    shared.unanswered.setdefault(uid, f"{pending.text!r} by {self.name}")
                    continue
                first = seen[0]
                self.run.checked["STORE result"] += 1
                ok = (
                    flags <= first
                    if op == "+"
                    else not (flags & first)
                    if op == "-"
                    else first == flags
                )
                if not ok:
                    self.violation("STORE result", f"{pending.text!r} UID {uid} -> {sorted(first)}")

        return check

    def store_command(self, *, uid_form: bool, silent: bool) -> tuple[str, Pending] | None:
        rng = self.rng
        op = rng.choice("+-+-=")
        mine = [(n, u) for n, u in self.known() if u in self.mine]
        chosen = self.pick(rng.randint(1, 4))
        if op == "=":
            chosen = rng.sample(mine, min(len(mine), 2))
            if not chosen:
                return None
        if not chosen:
            return None
        flags = set(rng.sample(STORE_FLAGS, rng.randint(1, 2)))
        if op != "=" and rng.random() < 0.4:
            # $Own<i> only where no other client replaces flags: messages known to be appended
            # by this client or by the setup (an APPEND still unanswered may be another's)
            owners = self.run.shared.appended
            chosen = [
                (n, u) for n, u in chosen if u in owners and owners[u][2] in (self.index, SETUP)
            ]
            if not chosen:
                return None
            flags.add(self.own)
        if op == "-" and rng.random() < 0.2:
            flags.add(DELETED)
        sign = "" if op == "=" else op
        if op == "=" and rng.random() < 0.5:
            flags.add(self.own)
        if DELETED in flags and op != "-":  # another session may expunge before our tagged OK
            self.run.shared.deleted.update(u for _, u in chosen)
        item = f"{sign}FLAGS{'.SILENT' if silent else ''}"
        numbers = [u if uid_form else n for n, u in chosen]
        prefix = "UID " if uid_form else ""
        text = f"{prefix}STORE {_compress(numbers)} {item} ({' '.join(sorted(flags))})"
        frozen = frozenset(flags)
        pending = self.send(
            text,
            f"{prefix}STORE",
            no_expunge=not uid_form,
            targets={u: n for n, u in chosen},
            check=self.check_store(sign, frozen),
        )
        return text, pending

    def fetch_command(self, *, uid_form: bool) -> Pending | None:
        rng = self.rng
        chosen = self.pick(rng.randint(1, 6))
        if not chosen:
            return None
        items = ["UID", "FLAGS"]
        extra = [
            "ENVELOPE",
            "INTERNALDATE",
            "RFC822.SIZE",
            "BODYSTRUCTURE",
            "BODY",
            "BODY.PEEK[HEADER.FIELDS (Message-ID Subject)]",
            "BODY.PEEK[TEXT]<0.40>",
            "BINARY.SIZE[1]",
        ]
        items += rng.sample(extra, rng.randint(0, 3))
        numbers = [u if uid_form else n for n, u in chosen]
        prefix = "UID " if uid_form else ""
        text = f"{prefix}FETCH {_compress(numbers)} ({' '.join(items)})"
        return self.send(
            text,
            f"{prefix}FETCH",
            no_expunge=not uid_form,
            targets={u: n for n, u in chosen},
            check=self.check_fetch,
        )

    async def op_fetch_body(self) -> None:
        """FETCH BODY[] without .PEEK sets \\Seen, and the answer says so (RFC 3501 §6.4.5)."""
        chosen = self.pick(1)
        if not chosen:
            return
        n, uid = chosen[0]
        before = self.flags[n - 1]
        check_seen = before is not None and SEEN not in before

        def check(pending: Pending, response: Response) -> None:
            seen = pending.seen.get(uid, [])
            answered = any(SEEN in flags for flags in seen)
            if response.kind == "OK" and check_seen and not answered:  # unless expunged: judged
                why = f"FETCH {n} BODY[] by {self.name} (\\Seen not in its answer)"
                self.run.shared.unanswered.setdefault(uid, why)  # at the next checkpoint

        await self.command(f"FETCH {n} (UID BODY[])", "FETCH", no_expunge=True, check=check)

    def search_key(self, depth: int = 0) -> tuple[str, Callable[[int, int], bool | None]]:
        """A random search key and its meaning for (seq, uid): True, False or None (unknown)."""
        rng = self.rng
        facts = self.run.shared.facts
        kinds = ["all", "seqset", "uidset", "size", "subject", "sent", "internal", "own"]
        if depth < 2:
            kinds += ["not", "or", "and"]
        kind = rng.choice(kinds)
        if kind == "seqset" and self.uids:
            seqs = set(rng.sample(range(1, len(self.uids) + 1), rng.randint(1, len(self.uids))))
            return _compress(sorted(seqs)), lambda n, u: n in seqs
        if kind == "uidset" and self.known():
            uids = {u for _, u in self.pick(rng.randint(1, 8))}
            return f"UID {_compress(sorted(uids))}", lambda n, u: u in uids
        known = [facts[u] for _, u in self.known() if u in facts]
        if kind == "size" and known:
            size = rng.choice(known).size + rng.choice((-1, 0, 1))
            if rng.random() < 0.5:
                return f"SMALLER {size}", lambda n, u: facts[u].size < size if u in facts else None
            return f"LARGER {size}", lambda n, u: facts[u].size > size if u in facts else None
        if kind == "subject" and known:
            subject = rng.choice(known).subject
            start = rng.randrange(len(subject) - 1)
            part = subject[start : rng.randint(start + 1, len(subject))].strip() or "stress"
            if rng.random() < 0.3:
                part = part.upper()

            def subject_has(n: int, u: int) -> bool | None:
                return part.lower() in facts[u].subject.lower() if u in facts else None

            return f'SUBJECT "{part}"', subject_has
        if kind in ("sent", "internal"):
            day = rng.choice((2, 3))
            what = rng.choice(("ON", "BEFORE", "SINCE"))
            key = f"{'SENT' if kind == 'sent' else ''}{what} {day}-Mar-2026"

            def on_day(n: int, u: int) -> bool | None:
                fact = facts.get(u)
                if kind == "sent":
                    got = None if fact is None else date(2026, 3, fact.sent)
                else:  # the day of the INTERNALDATE the server showed, in its zone (imaptest)
                    got = internal_day(self.run.shared.static.get((u, "INTERNALDATE")))
                if got is None:
                    return None
                wanted = date(2026, 3, day)
                if what == "ON":
                    return got == wanted
                return got < wanted if what == "BEFORE" else got >= wanted

            return key, on_day
        if kind == "own":
            owned = self.run.shared.owned
            return f"KEYWORD {self.own}", lambda n, u: owned.get((self.index, u))
        if kind == "not":
            key, meaning = self.search_key(depth + 1)

            def negated(n: int, u: int) -> bool | None:
                value = meaning(n, u)
                return None if value is None else not value

            return f"NOT {key}", negated
        if kind in ("or", "and"):
            (key1, one), (key2, two) = self.search_key(depth + 1), self.search_key(depth + 1)

            def both(n: int, u: int) -> bool | None:
                a, b = one(n, u), two(n, u)
                if kind == "or":
                    return True if a or b else None if a is None or b is None else False
                return (
                    False if a is False or b is False else None if a is None or b is None else True
                )

            return (f"OR {key1} {key2}" if kind == "or" else f"({key1} {key2})"), both
        return "ALL", lambda n, u: True

    async def op_search(self, *, uid_form: bool) -> None:
        """SEARCH / UID SEARCH with random keys, the answer checked against what is known of
        each message (size, subject, dates, this client's keyword) -- imaptest's search check."""
        prefix = "UID " if uid_form else ""
        keys = [self.search_key() for _ in range(self.rng.randint(1, 3))]
        text = " ".join(k for k, _ in keys)
        exists = len(self.uids)
        snapshot = list(enumerate(self.uids, 1))

        def check(pending: Pending, response: Response) -> None:
            if response.kind != "OK":
                return
            if pending.searches != 1:
                self.violation("SEARCH", f"{pending.searches} * SEARCH responses to {text!r}")
            hits = set(pending.search)
            if not uid_form and any(h < 1 or h > exists for h in hits):
                self.violation("SEARCH out of range", f"{sorted(hits)} with {exists} messages")
            if pending.expunged:  # UID SEARCH may see expunges: numbers moved, skip
                return
            shared = self.run.shared
            for n, uid in snapshot:
                if not uid:
                    continue
                values = [meaning(n, uid) for _, meaning in keys]
                want = False if False in values else None if None in values else True
                found = (uid if uid_form else n) in hits
                if want is not None:
                    self.run.checked["SEARCH hit/miss"] += 1
                if want is True and not found:  # fine if it was expunged meanwhile
                    shared.unanswered.setdefault(uid, f"{prefix}SEARCH {text!r} by {self.name}")
                elif want is False and found:
                    self.violation("SEARCH wrong", f"{prefix}SEARCH {text} found UID {uid}")

        await self.command(
            f"{prefix}SEARCH {text}", f"{prefix}SEARCH", no_expunge=not uid_form, check=check
        )

    def append_command(self, nonsync: bool | None = None) -> Pending:
        run = self.run
        rng = self.rng
        msgid = f"<{secrets.token_hex(8)}.{self.index}@stress.test>"
        sent, sent_day = rng.choice(SENT_DATES)
        data = message_bytes(msgid, rng, sent)
        flags = set(rng.sample(STORE_FLAGS, rng.randint(0, 2)))
        if rng.random() < 0.5:
            flags.add(self.own)
        if rng.random() < 0.1:
            flags.add(DELETED)
        before = run.shared.max_uid
        flag_text = f" ({' '.join(sorted(flags))})" if flags else ""
        internal = rng.choice(INTERNAL_DATES)
        date = f' "{internal}"' if internal else ""

        def check(pending: Pending, response: Response) -> None:
            if response.kind != "OK":
                return
            if response.code != "APPENDUID" or len(response.code_args) != 2:
                self.violation("APPENDUID", f"missing: {response.raw!r}")
                return
            shared = run.shared
            validity, uid_text = (str(a) for a in response.code_args)
            uid = int(uid_text)
            if shared.uidvalidity and int(validity) != shared.uidvalidity:
                self.violation("APPENDUID", f"UIDVALIDITY {validity} != {shared.uidvalidity}")
            if uid <= before or uid in shared.assigned:
                self.violation("UID not increasing", f"APPENDUID {uid} (seen up to {before})")
            shared.assigned.add(uid)
            shared.max_uid = max(shared.max_uid, uid)
            shared.appended[uid] = (msgid, len(data), self.index)
            shared.facts[uid] = Facts(len(data), f"stress {msgid[1:9]}", sent_day)
            shared.owned[(self.index, uid)] = self.own in flags
            self.mine.add(uid)
            if DELETED in flags:
                shared.deleted.add(uid)

        return self.send(
            f'APPEND "{run.mailbox}"{flag_text}{date}',
            "APPEND",
            literal=data,
            nonsync=nonsync,
            check=check,
        )

    async def op_copy(self, *, move: bool) -> None:
        chosen = self.pick(self.rng.randint(1, 3))
        if not chosen:
            return
        uid_form = self.rng.random() < 0.5
        numbers = [u if uid_form else n for n, u in chosen]
        verb = ("UID " if uid_form else "") + ("MOVE" if move else "COPY")
        target = self.run.mailbox if not move and self.rng.random() < 0.3 else self.run.other

        def check(pending: Pending, response: Response) -> None:
            if response.kind != "OK":
                return
            args = pending.copyuid if move else response.code_args
            if (move and not args) or (not move and response.code != "COPYUID"):
                for uid in pending.targets:  # no COPYUID: all of them must have been expunged
                    self.run.shared.unanswered.setdefault(uid, f"{pending.text!r} (no COPYUID)")
                return
            if len(args) == 3 and isinstance(args[1], str) and isinstance(args[2], str):
                src, dst = _uid_set(args[1]), _uid_set(args[2])
                if len(src) != len(dst) or not set(src) <= set(pending.targets):
                    self.violation("COPYUID", f"{pending.text!r}: {args!r}")
                if target == self.run.mailbox:
                    shared = self.run.shared
                    for uid in dst:
                        if uid <= max(pending.targets, default=0) or uid in shared.assigned:
                            self.violation("UID not increasing", f"COPYUID gave {uid}")
                        shared.assigned.add(uid)
                        shared.max_uid = max(shared.max_uid, uid)
                    for old, new in zip(src, dst, strict=False):
                        if (self.index, old) in shared.owned:
                            shared.owned[(self.index, new)] = shared.owned[(self.index, old)]
                        if old in shared.deleted:
                            shared.deleted.add(new)
                        if old in shared.facts:
                            shared.facts[new] = shared.facts[old]

        text = f'{verb} {_compress(numbers)} "{target}"'
        await self.command(
            text,
            verb,
            no_expunge=False,
            targets={u: n for n, u in chosen},
            check=check,
        )

    async def op_folders(self) -> None:
        """Other mailboxes come and go (imaptest's CREATE/DELETE "test/n"); LIST still shows the
        stress mailboxes, and SELECTed sessions are not disturbed."""
        rng = self.rng
        name = f"{self.run.mailbox}-tmp/{rng.randrange(5)}"
        verb = rng.choice(["CREATE", "DELETE", "LIST"])
        if verb == "LIST":
            untagged: list[Response] = []
            await self.command('LIST "" "*"', "LIST", collect=untagged)
            names = {
                r.values[2].text() if isinstance(r.values[2], Str) else str(r.values[2])
                for r in untagged
                if r.kind == "LIST" and len(r.values) >= 3
            }
            for wanted in (self.run.mailbox, self.run.other):
                if wanted not in names:
                    self.violation("LIST", f"{wanted} not listed")
            return
        await self.command(f'{verb} "{name}"', verb, may_fail=True)

    async def op_idle(self) -> None:
        assert self.conn is not None
        pending = self.send("IDLE", "IDLE")
        await self.conn.writer.drain()
        response = await self.read_one()
        while response.tag == "*":
            self.untagged(pending, response)
            response = await self.read_one()
        if response.tag != "+":
            self.violation("IDLE", f"no continuation: {response.raw!r}")
            self.pending.clear()
            return
        deadline = time.monotonic() + self.rng.uniform(0.05, 0.3)
        reading = asyncio.ensure_future(self.read_one())  # never cancelled mid-response
        while True:
            left = deadline - time.monotonic()
            done, _ = await asyncio.wait({reading}, timeout=max(left, 0))
            if not done:
                break
            self.untagged(pending, reading.result())
            reading = asyncio.ensure_future(self.read_one())
        self.conn.write(b"DONE\r\n")
        await self.conn.writer.drain()
        await self.finish(first=await reading)

    async def op_logout(self) -> None:
        untagged: list[Response] = []
        await self.command("LOGOUT", "LOGOUT", collect=untagged)
        if not any(r.kind == "BYE" for r in untagged):
            self.violation("LOGOUT", "no * BYE before the tagged OK")
        assert self.conn is not None
        await self.conn.close()
        self.run.shared.closed_sessions += 1
        self.reset_view()
        await self.connect()
        await self.select()

    async def step(self) -> None:
        """One random operation (sometimes a pipelined batch)."""
        rng = self.rng
        if any(u == 0 for u in self.uids) and rng.random() < 0.8:
            await self.sync()
            return
        exists = len(self.uids)
        low, high = self.run.messages
        weights: dict[str, float] = {
            "fetch": 16,
            "uid_fetch": 8,
            "fetch_body": 3,
            "store": 12,
            "uid_store": 5,
            "delete": 6 if exists > low else 1,
            "expunge": 5 if exists > low else 1,
            "uid_expunge": 2,
            "search": 5,
            "uid_search": 5,
            "append": 12 if exists < high else 1,
            "copy": 3,
            "move": 1 if exists > low else 0,
            "noop": 4,
            "check": 1,
            "status": 2,
            "folders": 1,
            "idle": 2,
            "pipeline": 8,
            "reselect": 0.6 if self.run.reconnect else 0,
            "close": 0.4 if self.run.reconnect else 0,
            "logout": 0.4 if self.run.reconnect else 0,
        }
        names = list(weights)
        op = rng.choices(names, weights=[weights[n] for n in names])[0]
        if op in ("fetch", "uid_fetch"):
            if self.fetch_command(uid_form=op == "uid_fetch") is not None:
                await self.drain_finish()
        elif op in ("store", "uid_store"):
            made = self.store_command(uid_form=op == "uid_store", silent=rng.random() < 0.2)
            if made is not None:
                await self.drain_finish()
        elif op == "fetch_body":
            await self.op_fetch_body()
        elif op == "delete":
            chosen = self.pick(rng.randint(1, 5))
            if chosen:
                self.run.shared.deleted.update(u for _, u in chosen)
                text = f"STORE {_compress([n for n, _ in chosen])} +FLAGS (\\Deleted)"
                self.send(
                    text,
                    "STORE",
                    no_expunge=True,
                    targets={u: n for n, u in chosen},
                    check=self.check_store("+", frozenset({DELETED})),
                )
                await self.drain_finish()
        elif op == "expunge":
            await self.command("EXPUNGE", "EXPUNGE")
        elif op == "uid_expunge":
            chosen = self.pick(rng.randint(1, 5))
            if chosen:
                await self.command(
                    f"UID EXPUNGE {_compress([u for _, u in chosen])}", "UID EXPUNGE"
                )
        elif op in ("search", "uid_search"):
            await self.op_search(uid_form=op == "uid_search")
        elif op == "append":
            self.append_command()
            await self.drain_finish()
        elif op in ("copy", "move"):
            await self.op_copy(move=op == "move")
        elif op in ("noop", "check"):
            await self.command(op.upper(), op.upper())
        elif op == "status":
            await self.command(f'STATUS "{self.run.other}" (MESSAGES UIDNEXT UNSEEN)', "STATUS")
        elif op == "folders":
            await self.op_folders()
        elif op == "idle":
            await self.op_idle()
        elif op == "pipeline":
            await self.pipeline()
        elif op == "reselect":
            self.run.shared.closed_sessions += 1
            await self.select()
        elif op == "close":
            await self.command("CLOSE", "CLOSE")
            self.run.shared.closed_sessions += 1
            await self.select()
        elif op == "logout":
            await self.op_logout()

    async def pipeline(self) -> None:
        """2-4 commands sent at once; a sequence-number command only behind commands during
        which the server may not expunge (RFC 3501 §5.5)."""
        rng = self.rng
        may_expunge = False
        for _ in range(rng.randint(2, 4)):
            choice = rng.choice(
                ["fetch", "uid_fetch", "store", "uid_store", "append", "noop", "uid_search"]
            )
            if choice in ("fetch", "store") and may_expunge:
                choice = "uid_" + choice
            if choice == "fetch":
                self.fetch_command(uid_form=False)
            elif choice == "uid_fetch":
                may_expunge |= self.fetch_command(uid_form=True) is not None
            elif choice == "store":
                self.store_command(uid_form=False, silent=rng.random() < 0.2)
            elif choice == "uid_store":
                may_expunge |= self.store_command(uid_form=True, silent=False) is not None
            elif (
                choice == "append"
                and self.conn is not None
                and "LITERAL+" in self.conn.capabilities
            ):
                self.append_command(nonsync=True)
                may_expunge = True
            elif choice == "noop":
                self.send("NOOP", "NOOP")
                may_expunge = True
            elif choice == "uid_search":
                self.send("UID SEARCH ALL", "UID SEARCH")
                may_expunge = True
        await self.drain_finish()

    async def drain_finish(self) -> None:
        assert self.conn is not None
        await self.conn.writer.drain()
        await self.finish()

    # -- checkpoint ---------------------------------------------------------------------------

    async def quiesce(self) -> None:
        await self.command("NOOP", "NOOP")
        await self.sync()


def _freeze(value: Token) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Str):
        return value.data
    return value


# -- the run -----------------------------------------------------------------------------------


class Stress:
    def __init__(
        self,
        *,
        port: int,
        context: ssl.SSLContext,
        account: dict[str, Any],
        clients: int = 12,
        seconds: float = 20.0,
        checkpoint: float = 3.0,
        strict: bool = False,
        seed: int | None = None,
        messages: tuple[int, int] = (10, 60),
        trace: Path | None = None,
        reconnect: bool = True,
        ports: Sequence[int] = (),
        settle: float = 0.0,
    ) -> None:
        self.trace = trace
        self.ports = list(ports) or [port]  # client i connects to ports[i % len(ports)]
        self.settle = settle  # seconds for cross-node notifications before a checkpoint
        self.reconnect = reconnect  # False: no session closes, \Recent is exactly once
        self.port = port
        self.context = context
        self.account = account
        self.clients_count = clients
        self.seconds = seconds
        self.checkpoint_every = checkpoint
        self.strict = strict
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        self.messages = messages
        tag = secrets.token_hex(3)
        self.mailbox = f"Stress-{tag}"
        self.other = f"Stress-{tag}-other"
        self.violations = Violations()
        self.shared = Shared()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.checked: Counter[str] = Counter()  # how many facts each kind of check compared
        self.checkpoints = 0
        self.elapsed = 0.0
        self._pause = False
        self._arrived = 0
        self._finished = 0
        self._resume = asyncio.Event()
        self._all_arrived = asyncio.Event()

    def record(self, verb: str, seconds: float) -> None:
        self.latencies[verb].append(seconds)

    async def run(self) -> bool:
        """True when no violation was found."""
        setup = Client(self, SETUP)
        await setup.connect()
        await setup.command(f'CREATE "{self.mailbox}"', "CREATE")
        await setup.command(f'CREATE "{self.other}"', "CREATE")
        for _ in range(self.messages[0] + 5):
            setup.append_command()
            await setup.drain_finish()
        clients = [Client(self, i) for i in range(self.clients_count)]
        for client in clients:
            await client.connect()
            await client.select()
        self.shared.closed_sessions = 0
        started = time.perf_counter()
        stop_at = time.monotonic() + self.seconds
        tasks = [asyncio.create_task(self._client_loop(c, stop_at)) for c in clients]
        coordinator = asyncio.create_task(self._coordinate(clients, stop_at))
        try:
            await asyncio.gather(*tasks)
        finally:
            coordinator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await coordinator
        self.elapsed = time.perf_counter() - started
        await self._checkpoint(clients, setup)
        for client in (*clients, setup):
            with contextlib.suppress(Exception):
                await client.command("LOGOUT", "LOGOUT")
            if client.conn is not None:
                await client.conn.close()
        return not self.violations.found

    async def _client_loop(self, client: Client, stop_at: float) -> None:
        try:
            while time.monotonic() < stop_at:
                if self._pause:
                    self._arrived += 1
                    self._check_arrivals()
                    await self._resume.wait()
                    continue
                await client.step()
        except TimeoutError:
            client.violation(
                "no answer", f"nothing for {READ_TIMEOUT:.0f} s after {client.pending!r:.200}"
            )
        except (ConnectionError, asyncio.IncompleteReadError, OSError, GrammarError) as exc:
            client.violation("connection", f"lost: {exc!r}")
        finally:
            if client.pending:  # died mid-command: left out of the checkpoints
                client.selected = False
            self._finished += 1  # a finished client counts as arrived for good
            self._check_arrivals()

    def _check_arrivals(self) -> None:
        if self._pause and self._arrived + self._finished >= self.clients_count:
            self._all_arrived.set()

    async def _coordinate(self, clients: list[Client], stop_at: float) -> None:
        """Every ``checkpoint`` seconds: stop every client between two commands, compare."""
        verifier = Client(self, 998)
        await verifier.connect()
        try:
            while time.monotonic() + self.checkpoint_every + 1.0 < stop_at:
                await asyncio.sleep(self.checkpoint_every)
                self._arrived = 0
                self._all_arrived.clear()
                self._resume.clear()
                self._pause = True
                self._check_arrivals()
                await self._all_arrived.wait()
                try:
                    await self._checkpoint(clients, verifier)
                finally:
                    self._pause = False
                    self._resume.set()
        finally:
            if verifier.conn is not None:
                await verifier.conn.close()

    async def _checkpoint(self, clients: list[Client], verifier: Client) -> None:
        """All quiet: every view must equal a fresh read of the mailbox."""
        self.checkpoints += 1
        clients = [c for c in clients if c.selected and c.conn is not None]
        if self.settle:
            await asyncio.sleep(self.settle)
        for client in clients:
            await client.quiesce()
        truth: list[Response] = []
        verifier.reset_view()
        await verifier.command(f'EXAMINE "{self.mailbox}"', "EXAMINE")
        if verifier.uids:  # 1:* of an empty mailbox names no valid number (a BAD is fair)
            await verifier.command("FETCH 1:* (UID FLAGS)", "FETCH", collect=truth)
        rows: list[tuple[int, frozenset[str]]] = []
        for response in truth:
            if response.kind == "FETCH":
                got_uid = response.items.get("UID")
                got_flags = response.items.get("FLAGS")
                if isinstance(got_uid, str) and isinstance(got_flags, list):
                    rows.append((int(got_uid), frozenset(str(f) for f in got_flags) - {RECENT}))
        uids = [u for u, _ in rows]
        if uids != sorted(set(uids)):
            self.violations.add("checkpoint", "UID order", f"FETCH 1:* gave {uids[:20]}")
        await self._check_status(verifier, rows)
        present = set(uids)
        shared = self.shared
        for uid, why in list(shared.unanswered.items()):
            if uid in present:
                self.violations.add(
                    "checkpoint", "no answer", f"UID {uid} is live but {why} gave nothing"
                )
            del shared.unanswered[uid]
        for uid, why in list(shared.suspects.items()):
            if uid not in shared.deleted and uid not in shared.moved:
                self.violations.add("checkpoint", "EXPUNGE of a kept message", f"UID {uid}: {why}")
            del shared.suspects[uid]
        back = present & shared.expunged
        if back:
            self.violations.add("checkpoint", "expunged UID back", f"UIDs {sorted(back)[:10]}")
        for uid, (msgid, _, index) in shared.appended.items():
            if uid not in present and uid not in shared.deleted and uid not in shared.moved:
                self.violations.add(
                    "checkpoint", "message lost", f"UID {uid} {msgid} (client {index})"
                )
        recent_by: dict[int, list[int]] = defaultdict(list)
        for client in clients:
            if client.uids != uids:
                self.violations.add(
                    client.name,
                    "checkpoint view",
                    f"{len(client.uids)} messages {client.uids[:8]}… vs {len(uids)} {uids[:8]}…",
                )
                continue
            self.checked["checkpoint view"] += 1
            for (uid, flags), mine in zip(rows, client.flags, strict=True):
                self.checked["checkpoint flags"] += mine is not None
                if mine is not None and mine != flags:
                    self.dump(client, f"UID {uid}")
                    self.violations.add(
                        client.name,
                        "checkpoint flags",
                        f"UID {uid}: {sorted(mine)} vs {sorted(flags)}",
                    )
            for uid in client.recent:
                recent_by[uid].append(client.index)
            if client.recent_count is not None and client.recent_count != len(client.recent):
                self.violations.add(
                    client.name,
                    "RECENT count",
                    f"* {client.recent_count} RECENT but {len(client.recent)} shown \\Recent",
                )
        for uid, holders in recent_by.items():
            if len(holders) > 1:
                self.violations.add(
                    "checkpoint", "\\Recent twice", f"UID {uid} in clients {holders}"
                )
        if shared.closed_sessions == 0 and len(clients) == self.clients_count:
            for uid in uids:
                if uid in shared.appended and uid not in recent_by:
                    self.violations.add("checkpoint", "\\Recent nowhere", f"UID {uid}")

    async def _check_status(self, verifier: Client, rows: list[tuple[int, frozenset[str]]]) -> None:
        """STATUS agrees with the mailbox as read (RFC 3501 §6.3.10), UIDNEXT above every UID."""
        untagged: list[Response] = []
        text = f'STATUS "{self.mailbox}" (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)'
        await verifier.command(text, "STATUS", collect=untagged)
        status = next((r for r in untagged if r.kind == "STATUS"), None)
        if status is None or not isinstance(status.values[1], list):
            self.violations.add("checkpoint", "STATUS", "no * STATUS response")
            return
        pairs = status.values[1]
        got = {str(k).upper(): int(str(v)) for k, v in zip(pairs[::2], pairs[1::2], strict=False)}
        want = {
            "MESSAGES": len(rows),
            "UNSEEN": sum(1 for _, flags in rows if SEEN not in flags),
            "UIDVALIDITY": self.shared.uidvalidity,
        }
        for name, value in want.items():
            if got.get(name) != value:
                self.violations.add("checkpoint", "STATUS", f"{name} {got.get(name)} != {value}")
        if got.get("UIDNEXT", 0) <= self.shared.max_uid:
            self.violations.add(
                "checkpoint", "STATUS", f"UIDNEXT {got.get('UIDNEXT')} <= UID {self.shared.max_uid}"
            )

    def dump(self, client: Client, why: str) -> None:
        if self.trace is None:
            return
        path = self.trace / f"client{client.index}-{self.checkpoints}.log"
        if path.exists() and path.stat().st_size > 50_000_000:
            return
        with path.open("ab") as out:
            out.write(f"== {why}\n".encode())
            out.write(b"\n".join(client.transcript) + b"\n")

    def report(self, out: Any = sys.stdout) -> None:
        total = sum(len(v) for v in self.latencies.values())
        seconds = max(self.elapsed, 1e-9)
        print(
            f"{self.clients_count} clients, {self.elapsed:.1f} s, seed {self.seed}, "
            f"{total} commands ({total / seconds:.0f}/s), {self.checkpoints} checkpoints",
            file=out,
        )
        print(f"{'command':<14}{'count':>8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}", file=out)
        for verb, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
            print(
                f"{verb:<14}{len(values):>8}{len(values) / seconds:>9.1f}"
                f"{statistics.median(values) * 1000:>9.1f}{p99 * 1000:>9.1f}",
                file=out,
            )
        print(f"checked: {dict(sorted(self.checked.items()))}", file=out)
        counts = self.violations.counts
        print(f"violations: {sum(counts.values())} {dict(counts) if counts else ''}", file=out)
        for line in self.violations.found:
            print(f"  {line}", file=out)


# -- the server (child process) and the command line ------------------------------------------


async def serve(folder: Path, database_url: str | None) -> None:
    from config import load_settings
    from mss import demo
    from mss.app import serving

    demo.prepare(folder, port_base=0)
    settings = load_settings(folder / demo.CONFIG)
    cheap = {"argon2_time_cost": 1, "argon2_memory_kib": 8}
    update: dict[str, Any] = {"directory": settings.directory.model_copy(update=cheap)}
    if database_url:
        update["database"] = settings.database.model_copy(update={"url": database_url})
    settings = settings.model_copy(update=update)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with serving(settings) as operator:
        await demo.populate(operator, folder)
        demo.write_manifest(operator, folder)
        manifest = json.loads((folder / demo.MANIFEST).read_text())
        doctor = next(a for a in manifest["accounts"] if a.get("rpps") == DOCTOR_RPPS)
        await operator.directory.set_password(doctor["address"], doctor["password"])
        print(json.dumps({"ready": True}), flush=True)
        await stop.wait()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        import uvloop

        uvloop.run(serve(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--manifest", type=Path, help="demo.json of a running demo operator")
    where.add_argument("--spawn", type=Path, help="start a demo operator in this folder")
    parser.add_argument("--database-url", help="with --spawn: e.g. postgresql+asyncpg://…")
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--checkpoint", type=float, default=3.0, help="seconds between checkpoints")
    parser.add_argument("--strict", action="store_true", help="check every FETCH item's syntax")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--no-reconnect",
        action="store_true",
        help="no LOGOUT/CLOSE/re-SELECT, so that \\Recent is checked to be in exactly one session",
    )
    parser.add_argument("--trace", type=Path, help="write the transcripts of failing clients here")
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="with --spawn and a PostgreSQL --database-url: that many nodes, clients spread over "
        "them (cross-node updates are given --settle seconds before each checkpoint)",
    )
    parser.add_argument("--settle", type=float, default=0.0)
    parser.add_argument(
        "--messages", default="10:60", help="LOW:HIGH, the mailbox size the clients keep it within"
    )
    args = parser.parse_args()
    processes: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    try:
        if args.spawn is not None:
            command = [sys.executable, __file__, "_serve", str(args.spawn)]
            if args.database_url:
                command.append(args.database_url)
            for _ in range(args.nodes):  # one after the other: each rewrites demo.json
                process = subprocess.Popen(command, stdout=subprocess.PIPE)
                processes.append(process)
                assert process.stdout is not None
                if not process.stdout.readline():
                    raise SystemExit("the operator did not start")
                started = json.loads((args.spawn / "demo.json").read_text())
                ports.append(int(started["listeners"]["imaps"]["port"]))
            manifest_path = args.spawn / "demo.json"
        else:
            manifest_path = args.manifest
        manifest = json.loads(manifest_path.read_text())
        folder = manifest_path.parent
        context = ssl.create_default_context(cafile=str(folder / manifest["ca_cert"]))
        context.check_hostname = False
        account = next(a for a in manifest["accounts"] if a.get("rpps") == DOCTOR_RPPS)
        stress = Stress(
            port=int(manifest["listeners"]["imaps"]["port"]),
            ports=ports,
            settle=args.settle,
            context=context,
            account=account,
            clients=args.clients,
            seconds=args.seconds,
            checkpoint=args.checkpoint,
            strict=args.strict,
            seed=args.seed,
            trace=args.trace,
            reconnect=not args.no_reconnect,
            messages=(int(args.messages.split(":")[0]), int(args.messages.split(":")[1])),
        )
        ok = asyncio.run(stress.run())
        stress.report()
        return 0 if ok else 1
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
