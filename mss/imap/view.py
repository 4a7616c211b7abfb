"""The selected mailbox as one session sees it: the MSN <-> UID map and its pending updates.

Message sequence numbers are positions in ``uids`` (ascending). Changes from other sessions arrive
as store notifications; they are applied to the map only when the session reports them, at the
points RFC 3501 §7.4.1 allows: ``EXISTS`` and flag updates after any command, ``EXPUNGE`` never
during FETCH, STORE or SEARCH (their UID forms may). Until reported, an expunged UID keeps its
number, so the numbers a client holds never go wrong.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailbox_store.models import Folder, MessageRecord
from mss.wire.imap.response import Atom, Code, Data, Untagged
from mss.wire.imap.sequence import SequenceSet

RECENT = "\\Recent"


@dataclass(slots=True)  # one per selected session: no per-instance __dict__ (issue 3)
class SelectedView:
    folder: Folder
    readonly: bool
    uids: list[int]
    highest_modseq: int
    recent: set[int]  # the UIDs that are \Recent for this session
    condstore: bool = False
    # Expunged elsewhere, not yet reported (kept in ``uids`` until then).
    pending_expunge: set[int] = field(default_factory=set)
    new_messages: bool = False  # an EXISTS notification not yet looked at
    flags_changed: bool = False
    resync: bool = False  # notifications were lost: re-read the folder
    folder_changed: bool = False  # created, renamed or deleted: check the selected one
    # Modseq of the flag changes this session made and reported itself (not reported again).
    own_modseq: dict[int, int] = field(default_factory=dict)
    known_modseq: int = 0  # the modseq up to which flag changes were reported
    flags: set[str] = field(default_factory=set)  # announced in the last ``* FLAGS``
    # Modseq of the earliest removal held back from a QRESYNC client (0: none), RFC 7162 §3.2.10.
    expunge_floor: int = 0

    @property
    def exists(self) -> int:
        return len(self.uids)

    @property
    def max_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def msn(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return index + 1
        return None

    def is_recent(self, uid: int) -> bool:
        return uid in self.recent

    def flags_of(self, record: MessageRecord) -> tuple[str, ...]:
        flags = sorted(record.flags)
        return (*flags, RECENT) if self.is_recent(record.uid) else tuple(flags)

    def recent_count(self) -> int:
        return len(self.recent)

    def resolve(self, sequence: SequenceSet, *, uid: bool) -> list[int]:
        """The UIDs a set names, ascending; MSNs above EXISTS are the caller's concern."""
        if uid:
            return self._resolve_uids(sequence)
        found: list[int] = []
        for span in sequence.resolve(len(self.uids)):
            found.extend(self.uids[span.start - 1 : span.stop - 1])
        return found  # resolve() gives sorted, merged spans

    def _resolve_uids(self, sequence: SequenceSet) -> list[int]:
        # RFC 3501 §6.4.8: ``n:*`` includes the highest UID even when n is above it.
        found: list[int] = []
        for span in sequence.resolve(max(self.max_uid, 1) if self.uids else 0):
            lo = bisect.bisect_left(self.uids, span.start)
            hi = bisect.bisect_left(self.uids, span.stop)
            found.extend(self.uids[lo:hi])
        return found

    def msn_out_of_range(self, sequence: SequenceSet) -> bool:
        """RFC 3501 §9: a message number above EXISTS is an error (``*`` excepted)."""
        return sequence.highest_number() > len(self.uids)

    def add(self, uids: Iterable[int]) -> None:
        for uid in uids:
            if uid > self.max_uid:
                self.uids.append(uid)

    def remove(self, uid: int) -> int | None:
        """Drop ``uid``; its former number (for the ``* n EXPUNGE`` response)."""
        number = self.msn(uid)
        if number is not None:
            del self.uids[number - 1]
        self.pending_expunge.discard(uid)
        self.recent.discard(uid)
        self.own_modseq.pop(uid, None)
        return number

    def flag_responses(self) -> tuple[Data, Untagged]:
        """``* FLAGS`` and ``* OK [PERMANENTFLAGS]`` (RFC 3501 §7.2.6): sent at SELECT and again
        when a new keyword appears in the mailbox."""
        flags = tuple(Atom(f) for f in sorted(self.flags))
        permanent = () if self.readonly else (*flags, Atom("\\*"))
        return (
            Data((Atom("FLAGS"), flags)),
            Untagged("OK", "Flags permitted", Code("PERMANENTFLAGS", (tuple(permanent),))),
        )

    def add_flags(self, flags: Iterable[str]) -> bool:
        """Note flags now in use; True when some were new (announce them)."""
        new = {f for f in flags if f != RECENT} - self.flags
        self.flags |= new
        return bool(new)

    def live(self, uids: Sequence[int]) -> list[int]:
        return [uid for uid in uids if uid not in self.pending_expunge]
