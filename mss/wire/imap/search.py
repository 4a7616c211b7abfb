"""SEARCH keys (RFC 3501 §6.4.4, MODSEQ of RFC 7162) as a small tree of frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mss.wire.imap.dates import read_date
from mss.wire.imap.lexer import MAX_NUMBER64, Reader
from mss.wire.imap.sequence import SequenceSet

FLAG_KEYS = frozenset(
    {"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN"}
    | {"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"}
)
STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
KEYWORD_KEYS = frozenset({"KEYWORD", "UNKEYWORD"})
DATE_KEYS = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
SIZE_KEYS = frozenset({"LARGER", "SMALLER"})


@dataclass(frozen=True, slots=True)
class FlagKey:
    """ALL, SEEN, UNSEEN, NEW, ... (no argument)."""

    name: str


@dataclass(frozen=True, slots=True)
class StringKey:
    """BCC/BODY/CC/FROM/SUBJECT/TEXT/TO with a substring; KEYWORD/UNKEYWORD with a flag."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class HeaderKey:
    field: str
    value: str


@dataclass(frozen=True, slots=True)
class DateKey:
    name: str
    value: date


@dataclass(frozen=True, slots=True)
class SizeKey:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class SequenceKey:
    """A bare sequence set (message numbers) or ``UID set``."""

    uid: bool
    sequence: SequenceSet


@dataclass(frozen=True, slots=True)
class ModSeqKey:
    """RFC 7162 ``MODSEQ [entry-name entry-type] value``; the entry is kept but unused."""

    value: int
    entry: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Not:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class And:
    """A parenthesised group, and the top level list of keys."""

    keys: tuple[SearchKey, ...]


SearchKey = (
    FlagKey | StringKey | HeaderKey | DateKey | SizeKey | SequenceKey | ModSeqKey | Not | Or | And
)

_SEQUENCE_START = frozenset(b"0123456789*")


def _nested(reader: Reader) -> SearchKey:
    reader.depth += 1
    if reader.depth > reader.limits.max_depth:
        raise reader.error("search keys nested too deeply")
    key = read_search_key(reader)
    reader.depth -= 1
    return key


def _read_modseq(reader: Reader) -> ModSeqKey:
    reader.sp()
    entry: tuple[str, str] | None = None
    if reader.at(b'"') or reader.at(b"{"):
        name = reader.text(reader.string())
        reader.sp()
        kind = reader.keyword().lower()
        if kind not in ("priv", "shared", "all"):
            raise reader.error("bad MODSEQ entry type")
        entry = (name, kind)
        reader.sp()
    return ModSeqKey(reader.number(MAX_NUMBER64), entry)


def read_search_key(reader: Reader) -> SearchKey:
    """One search key, with NOT/OR/parentheses read recursively under the depth cap."""
    char = reader.peek()
    if char == ord("("):
        return And(reader.paren_list(lambda: read_search_key(reader), allow_empty=False))
    if char is not None and char in _SEQUENCE_START:
        return SequenceKey(False, reader.sequence_set())
    name = reader.keyword()
    if name in FLAG_KEYS:
        return FlagKey(name)
    if name == "NOT":
        reader.sp()
        return Not(_nested(reader))
    if name == "OR":
        reader.sp()
        left = _nested(reader)
        reader.sp()
        return Or(left, _nested(reader))
    if name == "MODSEQ":
        return _read_modseq(reader)
    reader.sp()
    return _key_with_argument(reader, name)


def _key_with_argument(reader: Reader, name: str) -> SearchKey:
    if name in STRING_KEYS:
        return StringKey(name, reader.astring())
    if name in KEYWORD_KEYS:
        return StringKey(name, reader.atom())
    if name in DATE_KEYS:
        return DateKey(name, read_date(reader))
    if name in SIZE_KEYS:
        return SizeKey(name, reader.number())
    if name == "UID":
        return SequenceKey(True, reader.sequence_set())
    if name == "HEADER":
        field = reader.astring()
        reader.sp()
        return HeaderKey(field, reader.astring())
    raise reader.error("unknown search key")


def read_search_keys(reader: Reader) -> SearchKey:
    """``search-key *(SP search-key)`` up to the end of the line, as one :class:`And`."""
    keys = [read_search_key(reader)]
    while reader.take(b" "):
        keys.append(read_search_key(reader))
        if len(keys) > reader.limits.max_items:
            raise reader.error("too many search keys")
    return keys[0] if len(keys) == 1 else And(tuple(keys))
