"""outbound queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:15:00

The durable outbound queue (issue 4): messages for other operators, sealed, and their recipients.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "out_messages",
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("envid", sa.Text(), nullable=True),
        sa.Column("ret", sa.String(length=4), nullable=True),
        sa.Column("smtputf8", sa.Boolean(), nullable=False),
        sa.Column("eight_bit", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("queue_id"),
    )
    op.create_table(
        "out_recipients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("notify", sa.String(length=64), nullable=True),
        sa.Column("orcpt_type", sa.String(length=32), nullable=True),
        sa.Column("orcpt", sa.Text(), nullable=True),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("delay_notified", sa.Boolean(), nullable=False),
        sa.Column("lease", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["queue_id"], ["out_messages.queue_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("out_recipients", schema=None) as batch_op:
        batch_op.create_index("ix_out_recipients_due", ["next_attempt"], unique=False)
        batch_op.create_index("ix_out_recipients_queue_id", ["queue_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("out_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_out_recipients_queue_id")
        batch_op.drop_index("ix_out_recipients_due")
    op.drop_table("out_recipients")
    op.drop_table("out_messages")
