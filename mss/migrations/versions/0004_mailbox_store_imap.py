"""mailbox store for IMAP: quotas and usage, \\Recent mark, sealed header sections

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:15:00

Accounts get a quota and the usage kept up to date by the store (filled here from the messages
already stored); folders get the first UID still \\Recent and the MODSEQ of their last removal;
header sections get their own table (sealed, one row per message row). Messages stored before
this revision have no header row: the store reads their body instead. Covering indexes of
(folder, UID, flags) and (folder, UID, blob id) serve the SELECT summaries and the header scans
(SEARCH) of large folders.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mbx_headers",
        sa.Column("folder_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["folder_id", "uid"],
            ["mbx_messages.folder_id", "mbx_messages.uid"],
            name="fk_mbx_headers_message",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("folder_id", "uid"),
    )
    with op.batch_alter_table("mbx_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("used_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("message_count", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("mbx_folders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recent_uid", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("expunged_modseq", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_index(
        "ix_mbx_messages_folder_uid_flags",
        "mbx_messages",
        ["folder_id", "uid", "flags"],
        unique=False,
    )
    op.create_index(
        "ix_mbx_messages_folder_uid_blob",
        "mbx_messages",
        ["folder_id", "uid", "blob_id"],
        unique=False,
    )
    op.execute(
        "UPDATE mbx_accounts SET "
        "used_bytes = (SELECT COALESCE(SUM(m.size), 0) FROM mbx_messages m "
        "JOIN mbx_folders f ON f.id = m.folder_id WHERE f.account = mbx_accounts.name), "
        "message_count = (SELECT COUNT(*) FROM mbx_messages m "
        "JOIN mbx_folders f ON f.id = m.folder_id WHERE f.account = mbx_accounts.name)"
    )


def downgrade() -> None:
    op.drop_index("ix_mbx_messages_folder_uid_blob", table_name="mbx_messages")
    op.drop_index("ix_mbx_messages_folder_uid_flags", table_name="mbx_messages")
    with op.batch_alter_table("mbx_folders", schema=None) as batch_op:
        batch_op.drop_column("expunged_modseq")
        batch_op.drop_column("recent_uid")
    with op.batch_alter_table("mbx_accounts", schema=None) as batch_op:
        batch_op.drop_column("message_count")
        batch_op.drop_column("used_bytes")
        batch_op.drop_column("quota")
    op.drop_table("mbx_headers")
