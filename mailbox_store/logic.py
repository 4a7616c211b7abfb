"""Rules shared by every backend: flag arithmetic, UIDVALIDITY, internal dates, folder names,
header sections, SELECT summaries."""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from mailbox_store.errors import FolderProtected
from mailbox_store.models import FlagMode, Folder, FolderSummary, MessageRecord

DELETED = "\\Deleted"
SEEN = "\\Seen"
INBOX = "INBOX"
DELIMITER = "/"  # the hierarchy delimiter (RFC 3501 §5.1.1)
MAX_NAME = 255
_NAME_FORBIDDEN = frozenset("*%") | frozenset(chr(c) for c in (*range(32), 127))
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
    """``value`` in its own zone (a whole number of minutes), or now in UTC; a naive datetime
    is a programming error. Stored in UTC with the zone beside it (``internal_zone``), so
    that FETCH INTERNALDATE shows, and BEFORE/ON/SINCE compare, the date as it was given
    (RFC 3501 §2.3.3, §6.4.4)."""
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("internal_date must be timezone-aware")
    return value.astimezone(zone(zone_minutes(value)))


def zone_minutes(value: datetime) -> int:
    """The UTC offset of an aware datetime, in whole minutes east of UTC."""
    offset = value.utcoffset() or timedelta(0)
    return int(offset.total_seconds()) // 60


@functools.lru_cache(maxsize=256)
def zone(minutes: int) -> timezone:
    """The fixed zone ``minutes`` east of UTC (UTC itself for 0)."""
    return UTC if not minutes else timezone(timedelta(minutes=minutes))


def in_zone(utc: datetime, minutes: int) -> datetime:
    """A stored internal date (UTC) in the zone it was given in."""
    return utc if not minutes else utc.astimezone(zone(minutes))


def check_quota(quota: int | None) -> None:
    """``ValueError`` for a negative quota (None is no limit)."""
    if quota is not None and quota < 0:
        raise ValueError("a quota is a number of bytes, 0 or more")


def header_section(body: bytes) -> bytes:
    """The header section of a message: up to and including the first empty line (CRLF CRLF);
    the whole message if it has none (RFC 5322 §2.1, RFC 3501 §6.4.5 ``HEADER``)."""
    if body.startswith(b"\r\n"):
        return b"\r\n"  # no header fields at all
    end = body.find(b"\r\n\r\n")
    return body if end < 0 else body[: end + 4]


def is_inbox(name: str) -> bool:
    """INBOX is case-insensitive (RFC 3501 §5.1)."""
    return name.upper() == INBOX


def canonical_name(name: str) -> str:
    """``INBOX`` whatever its case; other names as given."""
    return INBOX if is_inbox(name) else name


def check_folder_name(name: str) -> None:
    """``FolderProtected`` unless ``name`` is a usable folder name: not empty, no empty
    hierarchy level (leading, trailing or doubled ``/``), no control character nor LIST
    wildcard (``*``, ``%``), at most 255 characters."""
    levels = name.split(DELIMITER)
    if not name or len(name) > MAX_NAME or not all(levels):
        raise FolderProtected(f"invalid folder name {name[:80]!r}")
    if not _NAME_FORBIDDEN.isdisjoint(name):
        raise FolderProtected(f"invalid folder name {name[:80]!r}")


def is_child(name: str, parent: str) -> bool:
    """True if ``name`` is an inferior hierarchical name of ``parent``."""
    return name.startswith(parent + DELIMITER)


def superiors(name: str) -> list[str]:
    """The superior names of ``name``, outermost first: ``a/b/c`` -> ``[a, a/b]``."""
    levels = name.split(DELIMITER)
    return [DELIMITER.join(levels[:n]) for n in range(1, len(levels))]


def renamed(name: str, old: str, new: str) -> str:
    """``name`` (``old`` or one of its children) under ``new``."""
    return new + name[len(old) :]


def summarize(folder: Folder, rows: Iterable[tuple[int, str]]) -> FolderSummary:
    """The SELECT summary from ``(uid, flags as stored)`` pairs in UID order; flag texts are
    decoded once per distinct value (a folder has few distinct flag sets)."""
    uids = array("q")
    texts: list[str] = []
    unseen = 0
    first_unseen: int | None = None
    decoded: dict[str, frozenset[str]] = {}
    for uid, text in rows:
        uids.append(uid)
        texts.append(text)
        flags = decoded.get(text)
        if flags is None:
            flags = decoded[text] = frozenset(text.split())
        if SEEN not in flags:
            unseen += 1
            if first_unseen is None:
                first_unseen = uid
    in_use = frozenset().union(*decoded.values())
    return FolderSummary(folder, uids, unseen, first_unseen, in_use, texts)
