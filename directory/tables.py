"""The directory's tables (SQLAlchemy Core), prefixed ``dir_``, for SQLite and PostgreSQL alike.

Datetimes are ``DateTime(timezone=True)`` and always written in UTC; SQLite gives them back naive,
``aware`` turns them back into UTC datetimes. Addresses are stored lower-cased.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from directory.checks import MAX_ADDRESS, MAX_DOMAIN

metadata = MetaData()

ADDRESS = MAX_ADDRESS
DOMAIN = MAX_DOMAIN

domains = Table(
    "dir_domains",
    metadata,
    Column("name", String(DOMAIN), primary_key=True),
    Column("kind", String(16), nullable=False),
)

mailboxes = Table(
    "dir_mailboxes",
    metadata,
    Column("address", String(ADDRESS), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("display_name", Text, nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("service", Text, nullable=False, default=""),
    Column("responsible", Text, nullable=False, default=""),
    Column("identifier", String(32)),
    Column("identifier_kind", String(8)),
    Column("profession_code", Text),
    Column("structure_id", Text),
    Column("liste_rouge", Boolean, nullable=False, default=False),
    Column("pharmacy", Boolean, nullable=False, default=False),
    Column("no_reply", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True)),
)

credentials = Table(
    "dir_credentials",
    metadata,
    Column("login", String(ADDRESS), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

delegations = Table(
    "dir_delegations",
    metadata,
    Column("bal", String(ADDRESS), ForeignKey("dir_mailboxes.address"), nullable=False),
    Column("delegate", String(ADDRESS), nullable=False),
    PrimaryKeyConstraint("bal", "delegate", name="pk_dir_delegations"),
    Index("ix_dir_delegations_delegate", "delegate"),
)

patients = Table(
    "dir_patients",
    metadata,
    Column("ins", String(15), primary_key=True),
    Column("address", String(ADDRESS), nullable=False),
    Column("state", String(16), nullable=False),
    Column("given_name", Text, nullable=False, default=""),
    Column("family_name", Text, nullable=False, default=""),
    Column("birth_date", String(10), nullable=False, default=""),
    Column("notification_email", Text),
    Column("notified_at", DateTime(timezone=True)),
    Column("state_changed_at", DateTime(timezone=True)),
    UniqueConstraint("address", name="uq_dir_patients_address"),
    Index("ix_dir_patients_state", "state"),
)

grants = Table(
    "dir_grants",
    metadata,
    Column("patient", String(ADDRESS), ForeignKey("dir_patients.address"), nullable=False),
    Column("correspondent", String(ADDRESS), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("patient", "correspondent", name="pk_dir_grants"),
)

whitelist_entries = Table(
    "dir_whitelist_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("domain", Text, nullable=False),
    Column("certificate_dn", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("responsible_contact", Text, nullable=False, default=""),
    Column("support_contact", Text, nullable=False, default=""),
    Column("updated", Text, nullable=False, default=""),
    Index("ix_dir_whitelist_entries_domain", "domain"),
)

# One row (id = 1) describing the loaded list; ``version`` grows at each replacement so that every
# node notices a list loaded by another one.
whitelist_meta = Table(
    "dir_whitelist_meta",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("generated_at", DateTime(timezone=True)),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("domains", Integer, nullable=False),
)

# MSS-TRUST-5: one row (id = 1), the last refresh of the whitelist from its source.
whitelist_refresh = Table(
    "dir_whitelist_refresh",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("succeeded_at", DateTime(timezone=True)),
    Column("error", Text, nullable=False, default=""),
    Column("entries", Integer, nullable=False, default=0),
    Column("source", Text, nullable=False, default=""),
    Column("source_sha256", String(64), nullable=False, default=""),
)


def aware(moment: datetime | None) -> datetime | None:
    """A datetime read back from the database, in UTC (SQLite returns naive UTC values)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
