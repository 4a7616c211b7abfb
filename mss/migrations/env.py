"""Alembic environment: runs on the connection handed over by ``mss.schema``."""

from __future__ import annotations

from alembic import context

from mss.schema import METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through mss.schema.upgrade()")

context.configure(
    connection=connection,
    target_metadata=list(METADATA),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
