"""Mailbox store records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SpecialUse(StrEnum):
    """RFC 6154 special-use attributes of the default folders."""

    SENT = "\\Sent"
    DRAFTS = "\\Drafts"
    TRASH = "\\Trash"
    JUNK = "\\Junk"


DEFAULT_FOLDERS: tuple[tuple[str, SpecialUse | None], ...] = (
    ("INBOX", None),
    ("Sent", SpecialUse.SENT),
    ("Drafts", SpecialUse.DRAFTS),
    ("Trash", SpecialUse.TRASH),
    ("Junk", SpecialUse.JUNK),
)


class FlagMode(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Folder:
    id: int
    account: str
    name: str
    special_use: SpecialUse | None
    uidvalidity: int
    uidnext: int
    highest_modseq: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    folder_id: int
    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: datetime
    size: int
    blob_id: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One copy of a message to file: an account and a folder."""

    account: str
    folder: str = "INBOX"
    flags: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Delivered:
    account: str
    folder_id: int
    uidvalidity: int
    uid: int


class ChangeKind(StrEnum):
    EXISTS = "exists"  # a message was added
    FLAGS = "flags"
    EXPUNGE = "expunge"
    FOLDERS = "folders"  # a folder was created, renamed or deleted


@dataclass(frozen=True, slots=True)
class Change:
    account: str
    folder_id: int
    kind: ChangeKind
    uids: tuple[int, ...] = ()
    modseq: int = 0


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What COPY/MOVE did (RFC 4315 ``COPYUID``)."""

    uidvalidity: int  # of the destination folder
    source_uids: tuple[int, ...]  # ascending; only UIDs that existed
    dest_uids: tuple[int, ...]  # same order, new UIDs in the destination


@dataclass(frozen=True, slots=True)
class Usage:
    """Storage used by an account (RFC 9208 ``STORAGE`` resource, in bytes)."""

    bytes: int  # sum of message sizes over all folders of the account
    messages: int
    quota: int | None  # limit in bytes, None = unlimited


@dataclass(frozen=True, slots=True)
class FolderSummary:
    """What SELECT needs, without loading every message record."""

    folder: Folder
    uids: Sequence[int]  # all UIDs ascending
    unseen: int  # number of messages without \\Seen
    first_unseen_uid: int | None
    flags_in_use: frozenset[str]  # every flag/keyword set on some message
    # The flags of each message as stored (sorted, space-separated), aligned with ``uids``:
    # FETCH (UID FLAGS) of a whole folder answers from here without a record per message.
    flag_texts: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class SearchSnapshot:
    """A saved SEARCH index column (``search_snapshots``): the index's own encoding (``data``)
    of one header field of a folder's messages up to ``max_uid``."""

    field: str
    uidvalidity: int
    max_uid: int
    data: bytes
