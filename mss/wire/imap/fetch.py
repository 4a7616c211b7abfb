"""FETCH attributes (RFC 3501 §6.4.5, BINARY of RFC 3516, MODSEQ of RFC 7162)."""

from __future__ import annotations

import string
from dataclasses import dataclass

from mss.wire.imap.lexer import Reader

SIMPLE_ATTRS = frozenset(
    {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE"}
    | {"RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ"}
)
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SECTION_ATTRS = frozenset({"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"})
_NAME_CHARS = frozenset((string.ascii_letters + string.digits + ".").encode("ascii"))
_ATOM_CHARS = frozenset(c for c in range(0x21, 0x7F) if c not in b'(){ %*"\\]')
_HEADER_TEXTS = ("HEADER.FIELDS.NOT", "HEADER.FIELDS")


def _astring(name: str) -> str:
    if name.upper() != "NIL" and all(ord(ch) in _ATOM_CHARS for ch in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Section:
    """``[1.2.HEADER.FIELDS (From To)]``: part numbers, then HEADER/TEXT/MIME/HEADER.FIELDS."""

    part: tuple[int, ...] = ()
    text: str | None = None
    headers: tuple[str, ...] = ()

    def render(self) -> str:
        pieces = [".".join(str(n) for n in self.part)] if self.part else []
        if self.text is not None:
            pieces.append(self.text)
        spec = ".".join(pieces)
        if self.headers:
            spec += " (" + " ".join(_astring(h) for h in self.headers) + ")"
        return f"[{spec}]"


@dataclass(frozen=True, slots=True)
class FetchAttr:
    """One item: ``name`` is ``FLAGS``, ``BODY``, ``BINARY``, ``BINARY.SIZE`` ...

    ``section`` is set for ``BODY[...]``/``BINARY[...]`` (not for bare ``BODY``, the structure),
    ``peek`` for the ``.PEEK`` forms, ``partial`` is ``(origin, length)``; a length of
    ``None`` (``BINARY[1]<15>``) runs to the end.
    """

    name: str
    section: Section | None = None
    partial: tuple[int, int | None] | None = None
    peek: bool = False

    def response_key(self) -> str:
        """The name in the FETCH response: ``BODY[1.TEXT]<0>`` (no PEEK, no partial length)."""
        if self.section is None:
            return self.name
        key = self.name + self.section.render()
        return key if self.partial is None else f"{key}<{self.partial[0]}>"

    @property
    def sets_seen(self) -> bool:
        """Whether fetching this item sets ``\\Seen`` (RFC 3501 §6.4.5)."""
        if self.peek:
            return False
        if self.name in ("RFC822", "RFC822.TEXT"):
            return True
        return self.section is not None and self.name in ("BODY", "BINARY")


def _read_section_text(reader: Reader) -> tuple[str, tuple[str, ...]]:
    name = reader.chars(_NAME_CHARS, "a section").upper()
    if name in _HEADER_TEXTS:
        reader.sp()
        headers = reader.paren_list(reader.astring, allow_empty=False)
        # RFC 5322 §3.6.8 ftext only; kept as spelled since the response echoes them.
        if not all(h and all(33 <= ord(ch) <= 126 and ch != ":" for ch in h) for h in headers):
            raise reader.error("bad header field name")
        return name, tuple(headers)
    if name in ("HEADER", "TEXT", "MIME"):
        return name, ()
    raise reader.error("bad section")


def read_section(reader: Reader) -> Section:
    """``[section]`` of BODY or BINARY. RFC 3516's ``section-binary`` has part numbers only;
    HEADER/TEXT/MIME/HEADER.FIELDS under BINARY are accepted as Dovecot does (and imaptest's
    fetch-binary-mime expects): they are sent as stored, nothing decoded."""
    reader.expect(b"[", "'['")
    part: list[int] = []
    text: str | None = None
    headers: tuple[str, ...] = ()
    while (char := reader.peek()) is not None and 0x31 <= char <= 0x39:
        part.append(reader.nz_number())
        if len(part) > reader.limits.max_depth:
            raise reader.error("section nested too deeply")
        if not reader.take(b"."):
            break
        nxt = reader.peek()
        if nxt is not None and 0x31 <= nxt <= 0x39:
            continue
        text, headers = _read_section_text(reader)
        break
    if not part and reader.peek() != ord("]"):
        text, headers = _read_section_text(reader)
    if text == "MIME" and not part:
        raise reader.error("MIME needs a part number")
    reader.expect(b"]", "']'")
    return Section(tuple(part), text, headers)


def _read_partial(reader: Reader, *, open_ended: bool) -> tuple[int, int | None] | None:
    """``<origin.length>``; with ``open_ended`` (BINARY) also ``<origin>``, from there to the
    end, as Dovecot accepts and imaptest's fetch-binary-mime-base64/-qp send."""
    if not reader.take(b"<"):
        return None
    origin = reader.number()
    if open_ended and reader.take(b">"):
        return origin, None
    reader.expect(b".", "'.' in a partial")
    length = reader.nz_number()
    reader.expect(b">", "'>'")
    return origin, length


def read_fetch_attr(reader: Reader) -> FetchAttr:
    name = reader.chars(_NAME_CHARS, "a fetch item").upper()
    if name in SECTION_ATTRS and reader.at(b"["):
        section = read_section(reader)
        binary = name.startswith("BINARY")
        partial = None if name == "BINARY.SIZE" else _read_partial(reader, open_ended=binary)
        peek = name.endswith(".PEEK")
        return FetchAttr(name.removesuffix(".PEEK"), section, partial, peek)
    if name in SIMPLE_ATTRS:
        return FetchAttr(name)
    raise reader.error("unknown fetch item")


def read_fetch_items(reader: Reader) -> tuple[FetchAttr, ...]:
    """A macro (ALL/FAST/FULL), one item, or a parenthesised list of items."""
    if reader.at(b"("):
        return reader.paren_list(lambda: read_fetch_attr(reader), allow_empty=False)
    start = reader.pos
    word = reader.chars(_NAME_CHARS, "a fetch item").upper()
    if word in MACROS:
        return tuple(FetchAttr(name) for name in MACROS[word])
    reader.pos = start
    return (read_fetch_attr(reader),)
