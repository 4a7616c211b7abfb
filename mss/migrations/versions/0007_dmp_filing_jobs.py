"""dmp filing jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:15:00

Durable DMP filing jobs written after delivery to a patient (issue 5, item 5): mss.dmp.tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dmp_filing_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("folder_id", "uid", name="uq_dmp_filing_jobs_copy"),
    )
    with op.batch_alter_table("dmp_filing_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_dmp_filing_jobs_state", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dmp_filing_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_dmp_filing_jobs_state")
    op.drop_table("dmp_filing_jobs")
