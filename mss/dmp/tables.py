"""The durable filing jobs of the DMP bridge (table ``dmp_filing_jobs``), SQLite and PostgreSQL.

A row is written by the post-delivery hook, before the SMTP ``250``, for each patient copy of a
message that carries an ``IHE_XDM.ZIP``: a crash between the reply and the filing loses nothing,
the worker finds the row again at start-up. The row names the stored copy (account, folder, UID)
rather than holding the message: the content stays sealed in the mailbox store. It never holds a
subject, a body or a document, only the outcome code (DMP-MDN-1) once done.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, UniqueConstraint

from mailbox_store.tables import UtcDateTime

metadata = MetaData()

filing_jobs = Table(
    "dmp_filing_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue_id", String(32), nullable=False),
    Column("account", String(320), nullable=False),
    Column("ins", String(32), nullable=False),
    Column("folder_id", Integer, nullable=False),
    Column("uid", Integer, nullable=False),
    Column("sender", String(320), nullable=False),  # the envelope sender ("" for <>)
    Column("state", String(16), nullable=False),  # pending, running, done
    Column("attempts", Integer, nullable=False),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("claim_token", String(32), nullable=True),  # which claim holds it (one UPDATE)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("result", String(16), nullable=True),  # "processed" or a DMP-MDN-1 code
    UniqueConstraint("folder_id", "uid", name="uq_dmp_filing_jobs_copy"),
    Index("ix_dmp_filing_jobs_state", "state", "id"),
)
