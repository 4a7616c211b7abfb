"""QRESYNC on the wire (RFC 7162 §3.2): the SELECT/EXAMINE parameters and the VANISHED response.

``SELECT name (QRESYNC (uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)]))``
is parsed into :class:`QresyncParams`; the seq-match-data becomes (message number, UID) sample
pairs, taken at the ends of each run of the UID set (§3.2.5.2). ``*`` is not allowed in any of
the sets, the sets of seq-match-data must be ascending and of the same size, the UIDVALIDITY and
mod-sequence must not be 0: anything else is a syntax error (tagged ``BAD``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from mss.wire.imap.lexer import MAX_NUMBER64, Reader
from mss.wire.imap.response import Atom, Data
from mss.wire.imap.sequence import SequenceSet

MAX_SPANS_PER_LINE = 1000  # a longer VANISHED list is sent as several responses


@dataclass(frozen=True, slots=True)
class QresyncParams:
    """What the client last knew of the mailbox (RFC 7162 §3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    matches: tuple[tuple[int, int], ...] = ()  # (message number, UID), ascending


@dataclass(frozen=True, slots=True)
class SelectParams:
    condstore: bool = False
    qresync: QresyncParams | None = None


def read_select_params(reader: Reader) -> SelectParams:
    """``(CONDSTORE)``, ``(QRESYNC (...))``, both, or ``()``; each at most once."""
    found: dict[str, QresyncParams | None] = {}

    def param() -> str:
        name = reader.keyword()
        if name in found:
            raise reader.error("repeated SELECT parameter")
        if name == "CONDSTORE":
            found[name] = None
        elif name == "QRESYNC":
            reader.sp()
            found[name] = _qresync(reader)
        else:
            raise reader.error("unknown SELECT parameter")
        return name

    reader.paren_list(param)
    return SelectParams("CONDSTORE" in found, found.get("QRESYNC"))


def _qresync(reader: Reader) -> QresyncParams:
    reader.expect(b"(", "'('")
    uidvalidity = reader.nz_number()
    reader.sp()
    modseq = reader.number(MAX_NUMBER64)
    if modseq == 0:
        raise reader.error("mod-sequence must not be 0")  # mod-sequence-value, RFC 7162 §7
    known: SequenceSet | None = None
    matches: tuple[tuple[int, int], ...] = ()
    if reader.take(b" "):
        if not reader.at(b"("):
            known = _without_star(reader, reader.sequence_set())
            if reader.take(b" "):
                matches = _seq_match(reader)
        else:
            matches = _seq_match(reader)
    reader.expect(b")", "')'")
    return QresyncParams(uidvalidity, modseq, known, matches)


def _without_star(reader: Reader, sequence: SequenceSet) -> SequenceSet:
    if sequence.uses_star():
        raise reader.error("'*' is not allowed in QRESYNC sets")
    return sequence


def _seq_match(reader: Reader) -> tuple[tuple[int, int], ...]:
    """``(known-sequence-set known-uid-set)`` as sample pairs."""
    reader.expect(b"(", "'('")
    numbers = _ascending(reader, _without_star(reader, reader.sequence_set()))
    reader.sp()
    uids = _ascending(reader, _without_star(reader, reader.sequence_set()))
    reader.expect(b")", "')'")
    if sum(hi - lo + 1 for lo, hi in numbers) != sum(hi - lo + 1 for lo, hi in uids):
        raise reader.error("QRESYNC sets of different sizes")
    return sample_pairs(numbers, uids)


def _ascending(reader: Reader, sequence: SequenceSet) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for item in sequence.ranges:
        lo, hi = item.start or 0, item.stop or 0  # no '*' here (checked before)
        if lo > hi or (spans and lo <= spans[-1][1]):
            raise reader.error("QRESYNC sets must be ascending")
        spans.append((lo, hi))
    return spans


def sample_pairs(
    numbers: list[tuple[int, int]], uids: list[tuple[int, int]]
) -> tuple[tuple[int, int], ...]:
    """(message number, UID) at both ends of every run of ``uids``; the two span lists are
    ascending and hold as many values each."""
    offsets: list[int] = []
    total = 0
    for lo, hi in numbers:
        offsets.append(total)
        total += hi - lo + 1

    def nth(k: int) -> int:
        at = bisect.bisect_right(offsets, k) - 1
        return numbers[at][0] + k - offsets[at]

    pairs: list[tuple[int, int]] = []
    k = 0
    for lo, hi in uids:
        pairs.append((nth(k), lo))
        if hi > lo:
            pairs.append((nth(k + hi - lo), hi))
        k += hi - lo + 1
    return tuple(pairs)


def uid_spans(uids: Iterable[int]) -> list[tuple[int, int]]:
    """UIDs as maximal runs ``(first, last)``, ascending: ``1,2,3,7,9,10`` gives
    ``(1, 3), (7, 7), (9, 10)``. Duplicates and any order are accepted."""
    spans: list[tuple[int, int]] = []
    for uid in sorted(uids):
        if spans and uid <= spans[-1][1] + 1:
            if uid > spans[-1][1]:
                spans[-1] = (spans[-1][0], uid)
        else:
            spans.append((uid, uid))
    return spans


def render_spans(spans: Iterable[tuple[int, int]]) -> str:
    """``(1, 3), (7, 7)`` gives ``1:3,7`` (a sequence set)."""
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in spans)


def vanished(spans: list[tuple[int, int]], *, earlier: bool = False) -> list[Data]:
    """``* VANISHED [(EARLIER)] uid-set`` responses for ascending, disjoint ``spans``
    (RFC 7162 §3.2.10), at most :data:`MAX_SPANS_PER_LINE` runs per line; none if empty."""
    head: tuple[Atom | tuple[Atom, ...], ...] = (Atom("VANISHED"),)
    if earlier:
        head += ((Atom("EARLIER"),),)
    return [
        Data((*head, Atom(render_spans(spans[at : at + MAX_SPANS_PER_LINE]))))
        for at in range(0, len(spans), MAX_SPANS_PER_LINE)
    ]
