"""SQLAlchemy Core tables of the embedded DMP store (prefix ``dmp_``), portable SQLite/PostgreSQL.

Confidentiality codes are one text column, space-separated (codes are atoms). Entry ids are UUID
strings. Contents are sealed and keyed by the SHA-256 of their plaintext, so that one content
filed twice (two versions with equal bytes) is stored once. Dates go through ``UtcDateTime``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    event,
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

# --- Access facts, traces and notifications (DMP-ACL-2/3, DMP-AUD-1) -------------------------
# ``dmp_traces`` is append-only: triggers (``traces_append_only_ddl``) refuse UPDATE and DELETE
# (and TRUNCATE on PostgreSQL); they are created with the table and by migration 0006.

TRACES_APPEND_ONLY_MESSAGE = "dmp traces are append-only"

patient_settings = Table(
    "dmp_patient_settings",
    metadata,
    Column("ins", String(32), ForeignKey("dmp_records.ins"), primary_key=True),
    Column("medecin_traitant", String(64), nullable=True),
    Column("opposes_emergency", Boolean, nullable=False),
)

blocked_professionals = Table(
    "dmp_blocked_professionals",
    metadata,
    Column("ins", String(32), ForeignKey("dmp_records.ins"), primary_key=True),
    Column("rpps", String(64), primary_key=True),
)

legal_representatives = Table(
    "dmp_legal_representatives",
    metadata,
    Column("ins", String(32), ForeignKey("dmp_records.ins"), primary_key=True),
    Column("representative", String(255), primary_key=True),
)

document_flags = Table(
    "dmp_document_flags",
    metadata,
    Column("entry_id", String(36), ForeignKey("dmp_documents.entry_id"), primary_key=True),
    Column("masked_by_patient", Boolean, nullable=False),
    Column("announced_at", UtcDateTime(), nullable=True),
)

traces = Table(
    "dmp_traces",
    metadata,
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that type aliases the rowid.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ins", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor_kind", String(32), nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("profession", String(16), nullable=True),
    Column("action", String(32), nullable=False),
    Column("mode", String(32), nullable=False),
    Column("entry_id", String(36), nullable=True),
    Column("allowed", Boolean, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("justification", Text, nullable=True),
    Index("ix_dmp_traces_ins", "ins", "id"),
)

first_accesses = Table(
    "dmp_first_accesses",
    metadata,
    Column("ins", String(32), primary_key=True),
    Column("actor_id", String(255), primary_key=True),
    Column("trace_id", BigInteger, nullable=False),
)

notifications = Table(
    "dmp_notifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ins", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("actor_id", String(255), nullable=True),
    Column("entry_id", String(36), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Index("ix_dmp_notifications_ins", "ins", "id"),
    Index("ix_dmp_notifications_due", "sent_at", "due_at"),
)


def traces_append_only_ddl(dialect_name: str) -> list[str]:
    """DMP-AUD-1: statements making ``dmp_traces`` append-only on this dialect."""
    if dialect_name == "sqlite":
        return [
            f"CREATE TRIGGER dmp_traces_no_{operation.lower()} BEFORE {operation} ON dmp_traces "
            f"BEGIN SELECT RAISE(ABORT, '{TRACES_APPEND_ONLY_MESSAGE}'); END"
            for operation in ("UPDATE", "DELETE")
        ]
    if dialect_name == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION dmp_traces_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{TRACES_APPEND_ONLY_MESSAGE}'; END $$",
            "CREATE TRIGGER dmp_traces_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON dmp_traces FOR EACH STATEMENT EXECUTE FUNCTION dmp_traces_append_only()",
        ]
    return []


def _create_append_only_triggers(target: Table, connection: Any, **_: Any) -> None:
    for statement in traces_append_only_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


event.listen(traces, "after_create", _create_append_only_triggers)
