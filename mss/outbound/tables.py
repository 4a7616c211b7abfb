"""SQLAlchemy Core tables of the outbound queue (prefix ``out_``), portable SQLite/PostgreSQL.

``out_messages.body`` is the message sealed like a mailbox blob (AES-256-GCM, key id inside, the
queue id as associated data): health data is encrypted at rest in the queue too. A recipient row
is held by a worker while ``lease`` is set and ``next_attempt`` (then the lease's end) is ahead.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from mailbox_store.tables import UtcDateTime

metadata = MetaData()

messages = Table(
    "out_messages",
    metadata,
    Column("queue_id", String(32), primary_key=True),
    Column("sender", String(320), nullable=False),  # "" is the null sender
    Column("envid", Text, nullable=True),
    Column("ret", String(4), nullable=True),
    Column("smtputf8", Boolean, nullable=False),
    Column("eight_bit", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

recipients = Table(
    "out_recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "queue_id",
        String(32),
        ForeignKey("out_messages.queue_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("address", String(320), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("notify", String(64), nullable=True),  # NOTIFY keywords joined by commas
    Column("orcpt_type", String(32), nullable=True),
    Column("orcpt", Text, nullable=True),
    Column("next_attempt", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_code", Integer, nullable=True),
    Column("last_reply", Text, nullable=True),
    Column("delay_notified", Boolean, nullable=False),
    Column("lease", String(32), nullable=True),
    Index("ix_out_recipients_due", "next_attempt"),
    Index("ix_out_recipients_queue_id", "queue_id"),
)
