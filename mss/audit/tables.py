"""The ``audit_events`` table (SQLAlchemy Core) and the triggers that make it append-only.

SEC-IN-4: mailbox access traces are kept; the table refuses UPDATE and DELETE (and TRUNCATE on
PostgreSQL) so that a trace cannot be rewritten through the application's own connection. Purging
after the retention period is an explicit maintenance step that drops the triggers first.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from mailbox_store.tables import UtcDateTime  # one UTC column type for the operator's tables
from mss.audit.events import MAX_VALUE_LENGTH

APPEND_ONLY_MESSAGE = "audit is append-only"


metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that type aliases the rowid.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("event", String(40), nullable=False),
    Column("session_id", String(MAX_VALUE_LENGTH)),
    Column("peer", String(MAX_VALUE_LENGTH)),
    Column("actor", String(MAX_VALUE_LENGTH)),
    Column("mailbox", String(MAX_VALUE_LENGTH)),
    Column("details", Text, nullable=False),
    Index("ix_audit_events_mailbox_id", "mailbox", "id"),
    Index("ix_audit_events_at", "at"),
)


def append_only_ddl(dialect_name: str) -> list[str]:
    """Statements creating the triggers that refuse UPDATE and DELETE on ``audit_events``."""
    if dialect_name == "sqlite":
        return [_sqlite_trigger("UPDATE"), _sqlite_trigger("DELETE")]
    if dialect_name == "postgresql":
        return _postgresql_ddl()
    raise ValueError(f"no append-only DDL for dialect {dialect_name!r}")


def _sqlite_trigger(operation: str) -> str:
    return (
        f"CREATE TRIGGER audit_events_no_{operation.lower()} BEFORE {operation} ON audit_events "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    )


def _postgresql_ddl() -> list[str]:
    return [
        "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        f"RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; "
        "END $$",
        # Statement level: refused even when no row matches; TRUNCATE only has this level.
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
    ]
