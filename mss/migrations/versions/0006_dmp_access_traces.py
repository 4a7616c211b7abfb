"""dmp access rules and traces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:15:00

Placeholder in the history; filled in by the change that adds these tables.
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
