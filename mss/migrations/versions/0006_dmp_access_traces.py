"""dmp access rules and traces

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:15:00

DMP access facts (DMP-ACL-2/3: patient settings, blocked professionals, legal representatives,
document flags), the append-only access traces (DMP-AUD-1) with the first-access register, and
the patient notification outbox. The trigger SQL repeats ``traces_append_only_ddl`` of
``dmp_bridge.store.tables`` so that this history never changes with the code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_MESSAGE = "dmp traces are append-only"
APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER dmp_traces_no_update BEFORE UPDATE ON dmp_traces "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
        "CREATE TRIGGER dmp_traces_no_delete BEFORE DELETE ON dmp_traces "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION dmp_traces_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$",
        "CREATE TRIGGER dmp_traces_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON dmp_traces FOR EACH STATEMENT EXECUTE FUNCTION dmp_traces_append_only()",
    ],
}


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "dmp_patient_settings",
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("medecin_traitant", sa.String(length=64), nullable=True),
        sa.Column("opposes_emergency", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["ins"], ["dmp_records.ins"]),
        sa.PrimaryKeyConstraint("ins"),
    )
    op.create_table(
        "dmp_blocked_professionals",
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("rpps", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["ins"], ["dmp_records.ins"]),
        sa.PrimaryKeyConstraint("ins", "rpps"),
    )
    op.create_table(
        "dmp_legal_representatives",
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("representative", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["ins"], ["dmp_records.ins"]),
        sa.PrimaryKeyConstraint("ins", "representative"),
    )
    op.create_table(
        "dmp_document_flags",
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("masked_by_patient", sa.Boolean(), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["dmp_documents.entry_id"]),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_table(
        "dmp_traces",
        _id(),
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=False),
        sa.Column("profession", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=True),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dmp_traces", schema=None) as batch_op:
        batch_op.create_index("ix_dmp_traces_ins", ["ins", "id"], unique=False)
    op.create_table(
        "dmp_first_accesses",
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=False),
        sa.Column("trace_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ins", "actor_id"),
    )
    op.create_table(
        "dmp_notifications",
        _id(),
        sa.Column("ins", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=255), nullable=True),
        sa.Column("entry_id", sa.String(length=36), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dmp_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_dmp_notifications_due", ["sent_at", "due_at"], unique=False)
        batch_op.create_index("ix_dmp_notifications_ins", ["ins", "id"], unique=False)
    for statement in APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS dmp_traces_append_only ON dmp_traces")
        op.execute("DROP FUNCTION IF EXISTS dmp_traces_append_only()")
    for index, table in (
        ("ix_dmp_notifications_ins", "dmp_notifications"),
        ("ix_dmp_notifications_due", "dmp_notifications"),
        ("ix_dmp_traces_ins", "dmp_traces"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
    for table in (
        "dmp_notifications",
        "dmp_first_accesses",
        "dmp_traces",
        "dmp_document_flags",
        "dmp_legal_representatives",
        "dmp_blocked_professionals",
        "dmp_patient_settings",
    ):
        op.drop_table(table)
