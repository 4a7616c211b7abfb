"""dmp filing jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:15:00

Placeholder in the history; filled in by the change that adds these tables.
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
