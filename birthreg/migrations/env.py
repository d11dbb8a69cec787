"""Alembic environment: runs on the connection that `birthreg.db.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import birthreg.models
import birthreg.registry.decision_models
import birthreg.registry.record_models  # noqa: F401  (the record's life: search, corrections)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through birthreg.db.migrate (birthreg init)")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
