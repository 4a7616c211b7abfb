"""Rules shared by every backend: flag arithmetic, UIDVALIDITY, internal dates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from mailbox_store.models import FlagMode, MessageRecord

DELETED = "\\Deleted"
FIRST_UID = 1
FIRST_MODSEQ = 1  # RFC 7162 §3.1.1: mod-sequences are positive; a new folder starts at 1
_UID32 = 0xFFFFFFFF


def check_flags(flags: Iterable[str]) -> None:
    """``ValueError`` unless every flag is a non-empty string without whitespace (an IMAP atom)."""
    for flag in flags:
        if not flag or any(char.isspace() for char in flag):
            raise ValueError(f"invalid flag {flag[:40]!r}")


def apply_flags(current: frozenset[str], flags: frozenset[str], mode: FlagMode) -> frozenset[str]:
    """The flags after ``STORE`` in ``mode`` (RFC 3501 §6.4.6)."""
    if mode is FlagMode.ADD:
        return current | flags
    if mode is FlagMode.REMOVE:
        return current - flags
    return flags


def flag_changes(
    records: Iterable[MessageRecord], flags: frozenset[str], mode: FlagMode
) -> dict[int, frozenset[str]]:
    """The new flags of the messages that ``STORE`` actually changes, by UID."""
    changes = {}
    for record in records:
        new = apply_flags(record.flags, flags, mode)
        if new != record.flags:
            changes[record.uid] = new
    return changes


def after_store(
    records: Iterable[MessageRecord], changes: dict[int, frozenset[str]], modseq: int
) -> list[MessageRecord]:
    """``records`` sorted by UID, with the changed ones carrying their new flags and MODSEQ."""
    return [
        replace(r, flags=changes[r.uid], modseq=modseq) if r.uid in changes else r
        for r in sorted(records, key=lambda r: r.uid)
    ]


def make_uidvalidity(folder_id: int, now: datetime) -> int:
    """A positive 32-bit UIDVALIDITY for a new folder (RFC 3501 §2.3.1.1).

    Seconds since the epoch plus the folder id: folder ids are never reused and time only moves
    forward, so a folder deleted and created again under the same name gets a greater value.
    """
    return (int(now.timestamp()) + folder_id) % _UID32 + 1


def internal_date_or_now(value: datetime | None) -> datetime:
    """``value`` in UTC, or now; a naive datetime is a programming error."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("internal_date must be timezone-aware")
    return value.astimezone(UTC)
