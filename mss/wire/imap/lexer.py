"""The byte reader under the IMAP command parser (RFC 3501 §9 formal syntax).

A command arrives as a line, possibly ending with a literal announcement ``{n}`` / ``{n+}``
(LITERAL+, RFC 7888); the session then reads ``n`` bytes and the next line and calls the parser
again on everything received so far. When the reader reaches an announcement at the very end of
its input it stops with :class:`NeedLiteral`, which the parser turns into a
:class:`LiteralRequest`: "may I read ``n`` bytes?" — asked before a single byte is read. The
size cap is checked at that point and :class:`LiteralTooLargeError` raised instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from mss.wire.imap.errors import ImapSyntaxError, LiteralTooLargeError
from mss.wire.imap.sequence import SequenceSet, parse_sequence_set

T = TypeVar("T")

CRLF = b"\r\n"
_SPECIALS = frozenset(b'(){ %*"\\]')
_ATOM_CHARS = frozenset(c for c in range(0x21, 0x7F) if c not in _SPECIALS)
_ASTRING_CHARS = _ATOM_CHARS | {ord("]")}
_LIST_CHARS = _ATOM_CHARS | {ord("%"), ord("*"), ord("]")}
_TAG_CHARS = _ASTRING_CHARS - {ord("+")}
_SEQUENCE_CHARS = frozenset(b"0123456789*:,")
MAX_NUMBER64 = 2**63 - 1  # RFC 7162 mod-sequence-value


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied while parsing; all are checked before the costly work they guard."""

    max_literal: int = 64 * 1024  # literals in ordinary arguments (LOGIN, SEARCH ...)
    max_append_literal: int = 50 * 1024 * 1024  # the message of APPEND
    max_depth: int = 16  # nesting of parentheses (lists, SEARCH groups)
    max_ranges: int = 100_000  # elements of a sequence set (clients send long UID sets); the line
    # length limit bounds it first
    max_items: int = 1000  # elements of one list
    max_literals: int = 64  # literals in one command (each one costs a round trip and a re-parse)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class LiteralRequest:
    """The command so far ends with ``{size}`` or ``{size+}``: read ``size`` bytes, then a line.

    For a synchronising literal the session first sends ``+ ...`` (a continuation request).
    """

    tag: str
    size: int
    non_synchronizing: bool


class NeedLiteral(Exception):
    """Internal control-flow signal: the input ends right after a literal announcement."""

    def __init__(self, request: LiteralRequest) -> None:
        super().__init__(request.size)
        self.request = request


class Reader:
    """A cursor over the bytes of one command; every method raises :class:`ImapSyntaxError`."""

    def __init__(self, data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
        self.data = data
        self.pos = 0
        self.limits = limits
        self.tag: str | None = None
        self.depth = 0
        self.literals = 0

    def error(self, message: str) -> ImapSyntaxError:
        return ImapSyntaxError(message, self.tag)

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def at(self, text: bytes) -> bool:
        return self.data.startswith(text, self.pos)

    def at_ci(self, text: bytes) -> bool:
        return self.data[self.pos : self.pos + len(text)].upper() == text

    def take(self, text: bytes) -> bool:
        if self.at(text):
            self.pos += len(text)
            return True
        return False

    def expect(self, text: bytes, what: str) -> None:
        if not self.take(text):
            raise self.error(f"expected {what}")

    def sp(self) -> None:
        self.expect(b" ", "a space")

    def at_end(self) -> bool:
        return self.at(CRLF)

    def end(self) -> None:
        if not self.at_end() or self.pos + 2 != len(self.data):
            raise self.error("unexpected data at end of command")

    def chars(self, allowed: frozenset[int], what: str) -> str:
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] in allowed:
            self.pos += 1
        if self.pos == start:
            raise self.error(f"expected {what}")
        return data[start : self.pos].decode("ascii")

    def atom(self) -> str:
        return self.chars(_ATOM_CHARS, "an atom")

    def keyword(self) -> str:
        return self.atom().upper()

    def tag_text(self) -> str:
        return self.chars(_TAG_CHARS, "a tag")

    def number(self, maximum: int = 4294967295) -> int:
        start = self.pos
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            self.pos += 1
        digits = self.data[start : self.pos]
        if not digits or len(digits) > 20:
            raise self.error("expected a number")
        value = int(digits)
        if value > maximum:
            raise self.error("number out of range")
        return value

    def nz_number(self) -> int:
        value = self.number()
        if value == 0:
            raise self.error("expected a non-zero number")
        return value

    def sequence_set(self) -> SequenceSet:
        text = self.chars(_SEQUENCE_CHARS, "a sequence set")
        try:
            return parse_sequence_set(text, max_ranges=self.limits.max_ranges)
        except ImapSyntaxError as exc:
            raise self.error(str(exc)) from exc

    def quoted(self) -> bytes:
        self.expect(b'"', "a quoted string")
        out = bytearray()
        while True:
            char = self.peek()
            if char is None or char in (0x0D, 0x0A, 0x00):
                raise self.error("unterminated quoted string")
            self.pos += 1
            if char == 0x22:
                return bytes(out)
            if char == 0x5C:
                escaped = self.peek()
                if escaped not in (0x22, 0x5C):
                    raise self.error("bad escape in quoted string")
                self.pos += 1
                char = escaped
            out.append(char)

    def literal(self, cap: int | None = None) -> bytes:
        """``{n}`` CRLF then n bytes; at the end of the input, ask for the literal first."""
        self.expect(b"{", "a literal")
        size = self.number(maximum=2**63 - 1)
        non_sync = self.take(b"+")
        self.expect(b"}", "'}' closing a literal")
        self.expect(CRLF, "CRLF after a literal announcement")
        self.literals += 1
        if self.literals > self.limits.max_literals:
            raise self.error("too many literals")
        limit = self.limits.max_literal if cap is None else cap
        if size > limit:
            raise LiteralTooLargeError("literal too large", self.tag, size, non_sync)
        if self.pos == len(self.data):
            raise NeedLiteral(LiteralRequest(self.tag or "", size, non_sync))
        if len(self.data) - self.pos < size:
            raise self.error("literal shorter than announced")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def literal8(self, cap: int | None = None) -> bytes:
        """``~{n}`` (or ``~{n+}``, LITERAL+) CRLF then n octets, NUL allowed (RFC 3516 §4.1)."""
        self.expect(b"~", "'~' of a literal8")
        return self.literal(cap)

    def string(self, cap: int | None = None) -> bytes:
        return self.literal(cap) if self.at(b"{") else self.quoted()

    def astring_bytes(self) -> bytes:
        if self.at(b"{") or self.at(b'"'):
            return self.string()
        return self.chars(_ASTRING_CHARS, "an astring").encode("ascii")

    def astring(self) -> str:
        return self.text(self.astring_bytes())

    def text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error("string is not UTF-8") from exc

    def nstring(self) -> str | None:
        if self.at_ci(b"NIL") and not self._atom_continues(3):
            self.pos += 3
            return None
        return self.text(self.string())

    def list_mailbox(self) -> str:
        if self.at(b"{") or self.at(b'"'):
            return self.text(self.string())
        return self.chars(_LIST_CHARS, "a list pattern")

    def _atom_continues(self, offset: int) -> bool:
        nxt = self.pos + offset
        return nxt < len(self.data) and self.data[nxt] in _ATOM_CHARS

    def paren_list(self, item: Callable[[], T], *, allow_empty: bool = True) -> tuple[T, ...]:
        """``(a b c)`` with items read by ``item``; depth and length are capped."""
        self.expect(b"(", "'('")
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.error("parentheses nested too deeply")
        items: list[T] = []
        if not self.take(b")"):
            items.append(item())
            while not self.take(b")"):
                self.sp()
                items.append(item())
                if len(items) > self.limits.max_items:
                    raise self.error("list too long")
        elif not allow_empty:
            raise self.error("empty list")
        self.depth -= 1
        return tuple(items)

    def maybe_list(self, item: Callable[[], T]) -> tuple[T, ...]:
        """Either one item or a parenthesised list of them."""
        return self.paren_list(item) if self.at(b"(") else (item(),)
