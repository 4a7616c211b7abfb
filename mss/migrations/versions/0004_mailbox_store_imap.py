"""mailbox store for IMAP

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:15:00

Placeholder in the history; filled in by the change that adds these tables.
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
