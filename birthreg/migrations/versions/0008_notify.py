"""notify: the outbox, the development sink, and a tracking number for every submission

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07

Submissions that exist already get a fresh random tracking number each (their signed receipts,
made before, do not carry one; the status API and the pages show it).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models
from birthreg.notify.tracking import new_tracking_number

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def _number_existing_submissions() -> None:
    connection = op.get_bind()
    submissions = sa.table(
        "registry_submission", sa.column("id", sa.String), sa.column("tracking_number", sa.String)
    )
    ids = [row.id for row in connection.execute(sa.select(submissions.c.id))]
    numbers: set[str] = set()
    while len(numbers) < len(ids):
        numbers.add(new_tracking_number())
    if ids:
        connection.execute(
            submissions.update()
            .where(submissions.c.id == sa.bindparam("submission"))
            .values(tracking_number=sa.bindparam("number")),
            [{"submission": i, "number": n} for i, n in zip(ids, sorted(numbers), strict=True)],
        )


def upgrade() -> None:
    # Added with a server default so that SQLite can add it NOT NULL without rebuilding the
    # table (a rebuild drops and re-creates a table that registrations reference); every row
    # is then numbered, and the unique index made. PostgreSQL drops the default afterwards;
    # SQLite keeps it (harmless: the index refuses a second empty number, and every insert
    # gives one).
    with op.batch_alter_table("registry_submission", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "tracking_number",
                sqlmodel.sql.sqltypes.AutoString(length=9),
                nullable=False,
                server_default="",
            )
        )
    _number_existing_submissions()
    with op.batch_alter_table("registry_submission", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_submission_tracking_number"), ["tracking_number"], unique=True
        )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("registry_submission", "tracking_number", server_default=None)

    op.create_table(
        "notify_outbox",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("submission_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("params", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("sms", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.Column("lease_until", birthreg.models.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.Column("done_at", birthreg.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["registry_submission.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notify_outbox_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notify_outbox_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notify_outbox_submission_id"), ["submission_id"], unique=False
        )
    op.create_table(
        "notify_sink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("delivered_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "channel"),
    )
    with op.batch_alter_table("notify_sink", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notify_sink_delivered_at"), ["delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notify_sink", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_sink_delivered_at"))
    op.drop_table("notify_sink")
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_outbox_submission_id"))
        batch_op.drop_index(batch_op.f("ix_notify_outbox_created_at"))
        batch_op.drop_index("ix_notify_outbox_due")
    op.drop_table("notify_outbox")
    with op.batch_alter_table("registry_submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_submission_tracking_number"))
        batch_op.drop_column("tracking_number")
