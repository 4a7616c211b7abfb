"""imap subscriptions

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 09:00:00

IMAP subscriptions become names (``mbx_subscriptions``, RFC 3501 §6.3.6, RFC 9051 §6.3.7)
instead of a flag on the folder row. The subscribed folders of existing accounts are copied into
the new table; ``mbx_folders.subscribed`` stays (no longer read) so that nodes of the previous
release keep working during a rolling upgrade. The downgrade writes the flags back from the names
of existing folders (names without a folder are lost: the old model cannot hold them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_folders = sa.table(
    "mbx_folders",
    sa.column("account", sa.String()),
    sa.column("name", sa.String()),
    sa.column("subscribed", sa.Boolean()),
)
_subscriptions = sa.table(
    "mbx_subscriptions", sa.column("account", sa.String()), sa.column("name", sa.String())
)


def upgrade() -> None:
    op.create_table(
        "mbx_subscriptions",
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["account"], ["mbx_accounts.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account", "name"),
    )
    subscribed = sa.select(_folders.c.account, _folders.c.name).where(
        _folders.c.subscribed.is_(sa.true())
    )
    op.execute(_subscriptions.insert().from_select(["account", "name"], subscribed))


def downgrade() -> None:
    named = sa.exists().where(
        _subscriptions.c.account == _folders.c.account, _subscriptions.c.name == _folders.c.name
    )
    op.execute(_folders.update().values(subscribed=named))
    op.drop_table("mbx_subscriptions")
