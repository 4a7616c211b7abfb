"""Password guessing: each failed login doubles the wait of the next attempt from the same peer
address or for the same login (whichever failed more), up to a cap.

A success clears the login's count and takes that login's own failures off the peer's count: many
users behind one NAT address are not slowed down by a colleague's typo once the colleague is in,
while failures on other logins (password spraying) still count against the peer.

The counts live in memory per node and forget an entry after ``window`` seconds without failure;
at most ``max_entries`` keys are kept (the oldest go first), so a flood cannot grow memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict


class LoginThrottle:
    def __init__(
        self, *, base: float, cap: float, window: float = 900.0, max_entries: int = 50_000
    ) -> None:
        self.base = base
        self.cap = cap
        self.window = window
        self.max_entries = max_entries
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def delay(self, peer: str, login: str) -> float:
        """Seconds to wait before checking this attempt (0 for a first try)."""
        count = max(self._count(f"peer:{peer}"), self._count(f"login:{login.lower()}"))
        if count == 0 or self.base <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(count - 1, 16)))

    def failed(self, peer: str, login: str) -> None:
        now = time.monotonic()
        for key in (f"peer:{peer}", f"login:{login.lower()}", _pair(peer, login)):
            count = self._count(key)
            self._failures[key] = (count + 1, now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)

    def succeeded(self, peer: str, login: str) -> None:
        self._failures.pop(f"login:{login.lower()}", None)
        own = self._failures.pop(_pair(peer, login), None)
        key = f"peer:{peer}"
        entry = self._failures.get(key)
        if own is None or entry is None:
            return
        left = entry[0] - own[0]
        if left > 0:
            self._failures[key] = (left, entry[1])
        else:
            del self._failures[key]

    def _count(self, key: str) -> int:
        entry = self._failures.get(key)
        if entry is None:
            return 0
        count, at = entry
        if time.monotonic() - at > self.window:
            del self._failures[key]
            return 0
        return count


def _pair(peer: str, login: str) -> str:
    return f"pair:{peer}\x00{login.lower()}"
