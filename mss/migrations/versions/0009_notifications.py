"""patient notifications

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 05:45:00

MSS-PAT-7, DMP-AUD-1: the outbox of new-message notifications to patients' personal addresses
(``ntf_notifications``, one gathering row per patient) and the sending state of the DMP outbox's
rows (``ntf_dmp_attempts``): mss.notify.tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ntf_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("pending_key", sa.String(length=32), nullable=True),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pending_key", name="uq_ntf_notifications_pending_key"),
    )
    with op.batch_alter_table("ntf_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ntf_notifications_due", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_ntf_notifications_ins", ["ins", "id"], unique=False)
    op.create_table(
        "ntf_dmp_attempts",
        sa.Column("notification_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
    )


def downgrade() -> None:
    op.drop_table("ntf_dmp_attempts")
    with op.batch_alter_table("ntf_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_ntf_notifications_ins")
        batch_op.drop_index("ix_ntf_notifications_due")
    op.drop_table("ntf_notifications")
