"""late registrations and duplicate decisions: a registrar's approval of a late application, a
clerk's decision on each likely duplicate; indexes for the statistics' days

Revision ID: 0010
Revises: 0009b
Create Date: 2026-12-06

The status `late` is a new value of `registry_submission.status` (a string column): nothing to
change for it. Submissions that exist already get their child's name key (likely duplicates by
the child's names) from their stored dossiers, a thousand at a time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models
from birthreg.registry.duplicates import child_name_key

revision = "0010"
down_revision = "0009b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_late_approval",
        sa.Column("submission_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("approved_by", sa.Integer(), nullable=False),
        sa.Column("approved_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["approved_by"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["registry_submission.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    op.create_table(
        "registry_duplicate_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("other_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=False),
        sa.Column("decided_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["decided_by"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["other_id"], ["registry_submission.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["registry_submission.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "other_id"),
    )
    op.create_index(
        "ix_registry_duplicate_decision_submission_id",
        "registry_duplicate_decision",
        ["submission_id"],
    )
    op.create_index(
        "ix_registry_duplicate_decision_other_id", "registry_duplicate_decision", ["other_id"]
    )
    op.create_index(
        "ix_registry_registration_registered_at", "registry_registration", ["registered_at"]
    )
    op.create_index(
        "ix_registry_submission_decided_at", "registry_submission", ["decided_at"]
    )
    op.add_column(
        "registry_submission",
        sa.Column("child_name_key", sqlmodel.sql.sqltypes.AutoString(length=130), nullable=True),
    )
    op.create_index(
        "ix_registry_submission_child_name_born",
        "registry_submission",
        ["child_name_key", "child_born_at"],
    )
    _key_existing_submissions()


_BATCH = 1000
_EXISTING = sa.text(
    "SELECT id, dossier FROM registry_submission WHERE id > :last ORDER BY id LIMIT :batch"
)


def _key_existing_submissions() -> None:
    connection = op.get_bind()
    submissions = sa.table(
        "registry_submission", sa.column("id", sa.String), sa.column("child_name_key", sa.String)
    )
    update = (
        submissions.update()
        .where(submissions.c.id == sa.bindparam("submission"))
        .values(child_name_key=sa.bindparam("key"))
    )
    last = ""
    while batch := connection.execute(_EXISTING, {"last": last, "batch": _BATCH}).all():
        keys = []
        for row in batch:
            application = json.loads(row.dossier).get("application", {}).get("document", {})
            keys.append({"submission": row.id, "key": child_name_key(application)})
        connection.execute(update, keys)
        last = batch[-1].id


def downgrade() -> None:
    op.drop_index("ix_registry_submission_child_name_born", table_name="registry_submission")
    op.drop_column("registry_submission", "child_name_key")
    op.drop_index("ix_registry_submission_decided_at", table_name="registry_submission")
    op.drop_index(
        "ix_registry_registration_registered_at", table_name="registry_registration"
    )
    op.drop_index(
        "ix_registry_duplicate_decision_other_id", table_name="registry_duplicate_decision"
    )
    op.drop_index(
        "ix_registry_duplicate_decision_submission_id", table_name="registry_duplicate_decision"
    )
    op.drop_table("registry_duplicate_decision")
    op.drop_table("registry_late_approval")
