"""imap search index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 08:00:00

Persisted SEARCH index columns (``mbx_search_snapshots``, see ``mailbox_store.search_snapshots``):
nothing to backfill, a folder without one builds its index from its headers at its first
SEARCH, as before, and saves it then. The zone of each message's internal date
(``mbx_messages.internal_zone``, minutes east of UTC): existing messages get 0 (their dates
were kept in UTC only), which is what they showed before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "mbx_messages",
        sa.Column("internal_zone", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "mbx_search_snapshots",
        sa.Column("folder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("max_uid", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["mbx_folders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("folder_id", "field"),
    )


def downgrade() -> None:
    op.drop_table("mbx_search_snapshots")
    with op.batch_alter_table("mbx_messages") as batch:
        batch.drop_column("internal_zone")
