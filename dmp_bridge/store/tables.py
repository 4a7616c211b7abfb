"""SQLAlchemy Core tables of the embedded DMP store (prefix ``dmp_``), portable SQLite/PostgreSQL.

Confidentiality codes are one text column, space-separated (codes are atoms). Entry ids are UUID
strings. Contents are sealed and keyed by the SHA-256 of their plaintext, so that one content
filed twice (two versions with equal bytes) is stored once. Dates go through ``UtcDateTime``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the DMP store; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite keeps no offset: stored as UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


records = Table(
    "dmp_records",
    metadata,
    Column("ins", String(32), primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

contents = Table(
    "dmp_contents",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

documents = Table(
    "dmp_documents",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("unique_id", String(255), nullable=False),
    Column("set_id", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ins", String(32), ForeignKey("dmp_records.ins"), nullable=False),
    Column("type_code", String(64), nullable=False),
    Column("class_code", String(16), nullable=True),
    Column("rubric", String(128), nullable=False),
    Column("confidentiality", Text, nullable=False),
    Column("author_id", String(255), nullable=False),
    Column("author_org", String(255), nullable=True),
    Column("creation_time", UtcDateTime(), nullable=True),
    Column("submission_time", UtcDateTime(), nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(128), nullable=False),
    Column("title", Text, nullable=False),
    Column("source_message_id", String(998), nullable=True),
    Column("replaces", String(36), ForeignKey("dmp_documents.entry_id"), nullable=True),
    Column("replaces_unique_id", String(255), nullable=True),
    Column("content_key", String(64), ForeignKey("dmp_contents.sha256"), nullable=False),
    UniqueConstraint("unique_id", name="uq_dmp_documents_unique_id"),  # DMP-DOC-1
    Index("ix_dmp_documents_ins", "ins", "submission_time"),
    Index("ix_dmp_documents_set_id", "set_id", "version"),
)
