"""LIST/LSUB wildcards (RFC 3501 §6.3.8): ``*`` matches anything, ``%`` anything but the
hierarchy delimiter.

Matched by simulating the pattern's automaton with bit masks, one step per character of the name:
time is linear in the name and never backtracks, whatever the pattern (a regex built from
``*%*%*%...`` takes exponential time and would block every client on the event loop).
"""

from __future__ import annotations

from dataclasses import dataclass

DELIMITER = "/"


@dataclass(frozen=True, slots=True)
class Pattern:
    length: int
    star: int  # bit i set: position i is ``*``
    percent: int  # bit i set: position i is ``%``
    literals: dict[str, int]  # character -> positions holding it

    @classmethod
    def compile(cls, text: str) -> Pattern:
        collapsed: list[str] = []
        for char in text:  # runs of wildcards are one wildcard: ``*`` if any is ``*``
            if char in "*%" and collapsed and collapsed[-1] in "*%":
                collapsed[-1] = "*" if "*" in (char, collapsed[-1]) else "%"
            else:
                collapsed.append(char)
        star = percent = 0
        literals: dict[str, int] = {}
        for index, char in enumerate(collapsed):
            if char == "*":
                star |= 1 << index
            elif char == "%":
                percent |= 1 << index
            else:
                literals[char] = literals.get(char, 0) | 1 << index
        return cls(len(collapsed), star, percent, literals)

    def _closure(self, states: int) -> int:
        # A wildcard may match nothing: its successor is active too (no two wildcards in a row).
        return states | ((states & (self.star | self.percent)) << 1)

    def matches(self, name: str) -> bool:
        states = self._closure(1)
        for char in name:
            keep = self.star if char == DELIMITER else self.star | self.percent
            states = self._closure((states & keep) | ((states & self.literals.get(char, 0)) << 1))
            if not states:
                return False
        return bool(states >> self.length & 1)


def matches(pattern: Pattern, name: str, *, inbox_pattern: Pattern | None = None) -> bool:
    """INBOX matches in any case (RFC 3501 §5.1): ``inbox_pattern`` is the upper-cased pattern."""
    if name == "INBOX" and inbox_pattern is not None and inbox_pattern.matches(name):
        return True
    return pattern.matches(name)
