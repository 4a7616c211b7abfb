"""outbound queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:15:00

Placeholder in the history; filled in by the change that adds these tables.
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
