"""IMAP sequence sets (RFC 3501 §9 ``sequence-set``): parsed once, resolved lazily.

A set such as ``1:4294967295`` stays a pair of numbers: :meth:`SequenceSet.resolve` returns
sorted, merged :class:`range` objects clipped to the mailbox, never a list of every number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mss.wire.imap.errors import ImapSyntaxError

MAX_NUMBER = 4294967295  # RFC 3501 nz-number / uniqueid: 32-bit unsigned
DEFAULT_MAX_RANGES = 1000


@dataclass(frozen=True, slots=True)
class SeqRange:
    """One element: ``n``, ``*``, ``n:m``; ``None`` stands for ``*`` (the largest value)."""

    start: int | None
    stop: int | None

    def render(self) -> str:
        first = "*" if self.start is None else str(self.start)
        if self.start == self.stop:
            return first
        return f"{first}:{'*' if self.stop is None else self.stop}"

    def bounds(self, max_value: int) -> tuple[int, int]:
        """Low and high ends, ``*`` replaced by ``max_value`` (``n:m`` equals ``m:n``)."""
        lo = max_value if self.start is None else self.start
        hi = max_value if self.stop is None else self.stop
        return (lo, hi) if lo <= hi else (hi, lo)


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A parsed sequence set, as written by the client (render gives the same text back)."""

    ranges: tuple[SeqRange, ...]

    def render(self) -> str:
        return ",".join(item.render() for item in self.ranges)

    def uses_star(self) -> bool:
        return any(r.start is None or r.stop is None for r in self.ranges)

    def highest_number(self) -> int:
        """The largest explicit number (0 if only ``*``): for the ``seq > EXISTS`` check."""
        return max((n for r in self.ranges for n in (r.start, r.stop) if n is not None), default=0)

    def resolve(self, max_value: int) -> tuple[range, ...]:
        """Sorted, merged ranges of the values present in ``1..max_value``.

        With ``max_value == 0`` (empty mailbox) the result is empty. ``n:*`` with ``n`` above
        ``max_value`` still includes ``max_value`` (RFC 3501 §6.4.8 for UIDs).
        """
        if max_value <= 0:
            return ()
        spans = sorted(r.bounds(max_value) for r in self.ranges)
        merged: list[list[int]] = []
        for lo, hi in spans:
            lo, hi = max(lo, 1), min(hi, max_value)
            if lo > hi:
                continue
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return tuple(range(lo, hi + 1) for lo, hi in merged)

    def iter_values(self, max_value: int) -> Iterator[int]:
        """Every value in order, lazily."""
        for span in self.resolve(max_value):
            yield from span

    def contains(self, value: int, max_value: int) -> bool:
        return any(value in span for span in self.resolve(max_value))


def _number(text: str) -> int | None:
    if text == "*":
        return None
    if not text or not text.isascii() or not text.isdigit() or text[0] == "0":
        raise ImapSyntaxError("bad number in sequence set")
    value = int(text)
    if value > MAX_NUMBER:
        raise ImapSyntaxError("number too large in sequence set")
    return value


def parse_sequence_set(text: str, *, max_ranges: int = DEFAULT_MAX_RANGES) -> SequenceSet:
    """Parse ``2,4:7,9,12:*``; more than ``max_ranges`` elements is an error."""
    if len(text) > max_ranges * 24:
        raise ImapSyntaxError("sequence set too long")
    parts = text.split(",")
    if len(parts) > max_ranges:
        raise ImapSyntaxError("too many ranges in sequence set")
    items: list[SeqRange] = []
    for part in parts:
        first, sep, second = part.partition(":")
        start = _number(first)
        items.append(SeqRange(start, _number(second) if sep else start))
    return SequenceSet(tuple(items))
