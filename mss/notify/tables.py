"""The notification outbox tables (prefix ``ntf_``), SQLite and PostgreSQL.

``ntf_notifications`` (MSS-PAT-7): one row per patient and coalescing window, written by the
post-delivery hook. ``pending_key`` holds the INS while the row still gathers messages and is
NULL once the row is claimed for sending: the unique constraint makes "one gathering row per
patient" a fact of the database, whatever the number of nodes. Rows hold the senders' names
and a count, never a subject, a body or a document.

``ntf_dmp_attempts`` (DMP-AUD-1): the sending state of rows of the DMP outbox
(``dmp_notifications``, owned by ``dmp_bridge``): attempts, next try, final state.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from mailbox_store.tables import UtcDateTime

metadata = MetaData()

patient_notifications = Table(
    "ntf_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ins", String(32), nullable=False),
    Column("address", String(320), nullable=False),  # the patient's MSSanté address
    Column("pending_key", String(32), nullable=True),
    Column("names", Text, nullable=False),  # who wrote: distinct display names, one per line
    Column("messages", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("state", String(16), nullable=False),  # pending, sent, skipped, expired, refused
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
    UniqueConstraint("pending_key", name="uq_ntf_notifications_pending_key"),
    Index("ix_ntf_notifications_due", "state", "next_attempt_at"),
    Index("ix_ntf_notifications_ins", "ins", "id"),
)

dmp_attempts = Table(
    "ntf_dmp_attempts",
    metadata,
    Column("notification_id", Integer, primary_key=True, autoincrement=False),
    Column("state", String(16), nullable=False),  # pending, sent, skipped, expired, refused
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("error", String(200), nullable=True),
)
