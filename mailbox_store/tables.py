"""SQLAlchemy Core tables of the mailbox store (prefix ``mbx_``), portable SQLite/PostgreSQL.

Flags are one text column: the flags sorted and joined by single spaces (IMAP flags are atoms and
never contain spaces). Dates go through ``UtcDateTime`` so that SQLite, which keeps no time zone,
gives back aware UTC datetimes like PostgreSQL does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from mailbox_store.logic import check_flags

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the mailbox store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC without an offset
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


accounts = Table(
    "mbx_accounts",
    metadata,
    Column("name", String(320), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # RFC 9208 STORAGE: the limit (NULL: none), and the usage kept up to date by every insert
    # and delete of a message so that a delivery never sums the account's messages.
    Column("quota", BigInteger, nullable=True),
    Column("used_bytes", BigInteger, nullable=False, server_default="0"),
    Column("message_count", BigInteger, nullable=False, server_default="0"),
)

folders = Table(
    "mbx_folders",
    metadata,
    # AUTOINCREMENT on SQLite: ids are never reused, which keeps UIDVALIDITY values unique.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "account",
        String(320),
        ForeignKey("mbx_accounts.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("special_use", String(16), nullable=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False),
    Column("highest_modseq", BigInteger, nullable=False),
    # Legacy (before migration 0012): subscriptions are names in ``mbx_subscriptions`` now; this
    # column is neither read nor kept up to date, it stays for nodes of the previous release
    # during a rolling upgrade and goes in a later migration.
    Column("subscribed", Boolean, nullable=False),
    # RFC 3501 §2.3.2 \\Recent: UIDs from this one up are recent for the next session to SELECT.
    Column("recent_uid", BigInteger, nullable=False, server_default="1"),
    # The MODSEQ of the last removal of messages (EXPUNGE, MOVE, RENAME INBOX): a reader that
    # knows the folder as of a greater MODSEQ knows every message still in it.
    Column("expunged_modseq", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("account", "name", name="uq_mbx_folders_account_name"),
    sqlite_autoincrement=True,
)

messages = Table(
    "mbx_messages",
    metadata,
    Column(
        "folder_id",
        Integer,
        ForeignKey("mbx_folders.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("uid", BigInteger, primary_key=True, autoincrement=False),
    Column("modseq", BigInteger, nullable=False),
    Column("flags", Text, nullable=False),
    Column("internal_date", UtcDateTime(), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob_id", String(64), nullable=False),
    # The zone of the internal date as given (APPEND), in minutes east of UTC: the date is kept
    # in UTC and shown, and searched by day (BEFORE/ON/SINCE), in this zone (RFC 3501 §2.3.3).
    Column("internal_zone", SmallInteger, nullable=False, server_default="0"),
    Index("ix_mbx_messages_folder_modseq", "folder_id", "modseq"),
    # Covering index of what a SELECT summary reads (UIDs and flags of a whole folder): a scan
    # of index pages, not a table lookup per message (about twice as fast on SQLite).
    Index("ix_mbx_messages_folder_uid_flags", "folder_id", "uid", "flags"),
    # Covering index of the blob ids a folder-wide header scan (SEARCH) opens headers with.
    Index("ix_mbx_messages_folder_uid_blob", "folder_id", "uid", "blob_id"),
    Index("ix_mbx_messages_blob", "blob_id"),  # for the future blob garbage collector
)


# Small bodies, sealed like blob files (same format, same keys), written in the delivery's own
# transaction so that one commit makes both the body and its rows durable.
inline_blobs = Table(
    "mbx_blobs",
    metadata,
    Column("blob_id", String(64), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)


# Header sections (what SEARCH and FETCH BODY[HEADER...] read), sealed like bodies under the
# message's blob id, one row per message row, written in the delivery's transaction, so that
# searching headers never reads nor decrypts bodies. Keyed and ordered like the messages (a scan
# of a folder's headers reads neighbouring pages) and removed with them (cascade).
headers = Table(
    "mbx_headers",
    metadata,
    Column("folder_id", Integer, primary_key=True, autoincrement=False),
    Column("uid", BigInteger, primary_key=True, autoincrement=False),
    Column("content", LargeBinary, nullable=False),
    ForeignKeyConstraint(
        ["folder_id", "uid"],
        ["mbx_messages.folder_id", "mbx_messages.uid"],
        name="fk_mbx_headers_message",
        ondelete="CASCADE",
        onupdate="CASCADE",
    ),
)


# IMAP subscriptions (RFC 3501 §6.3.6, RFC 9051 §6.3.7): NAMES, not folders. A name may be
# subscribed without a folder (SUBSCRIBE before CREATE, or after DELETE: LIST (SUBSCRIBED) shows
# it \\NonExistent); RENAME and DELETE leave subscriptions alone. Names as the client gave them,
# INBOX in capitals (``logic.canonical_name``). Removed with the account (cascade).
subscriptions = Table(
    "mbx_subscriptions",
    metadata,
    Column(
        "account",
        String(320),
        ForeignKey("mbx_accounts.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(255), primary_key=True),
)


# A persisted SELECT summary of a large folder (``summary_store``): every UID and the flag text
# of each as of ``modseq``, compressed; no health content. A node that starts reads it and
# catches up by MODSEQ instead of reading the whole folder (issue 3, first SELECT after restart).
folder_states = Table(
    "mbx_folder_states",
    metadata,
    Column(
        "folder_id",
        Integer,
        ForeignKey("mbx_folders.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("messages", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


# Persisted SEARCH index columns (``mss.imap.search_index``): per folder and header field, the
# folded text of that field for every message up to ``max_uid``, compressed and sealed like a
# blob (key id inside ``content``; bound to folder, field, UIDVALIDITY and ``max_uid``): header
# text is health data and is never stored in clear. Removed with the folder (cascade).
search_snapshots = Table(
    "mbx_search_snapshots",
    metadata,
    Column(
        "folder_id",
        Integer,
        ForeignKey("mbx_folders.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("field", String(64), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("max_uid", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)


def encode_flags(flags: frozenset[str]) -> str:
    """Flags as stored: sorted, space-separated. ``ValueError`` for an empty or spaced flag."""
    check_flags(flags)
    return " ".join(sorted(flags))


def decode_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())
