"""imap folder state

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 08:00:00

Persisted SELECT summaries of large folders (``mbx_folder_states``, see
``mailbox_store.summary_store``). Nothing to backfill: a folder without a row is read whole at
its first SELECT, as before, and its row is written then (lazily).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mbx_folder_states",
        sa.Column("folder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["mbx_folders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("folder_id"),
    )


def downgrade() -> None:
    op.drop_table("mbx_folder_states")
