"""a record's life: search keys for every submission

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-06

`registry_search_key` holds what each submission is found by (`birthreg.registry.search_keys`):
the parents' and the child's IINs, surnames, the tracking number, the act record and the
certificate number. Submissions that exist already get theirs from their stored dossiers, their
registrations and certificates, a thousand at a time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from birthreg.registry.search_keys import registration_keys, submission_keys

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None

_KEY = sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql")
_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "registry_search_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", _KEY, nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["registry_submission.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_registry_search_key_key", "registry_search_key", ["key"])
    op.create_index(
        "ix_registry_search_key_submission_id", "registry_search_key", ["submission_id"]
    )
    _key_existing_submissions()


_EXISTING = sa.text(
    "SELECT s.id, s.dossier, s.tracking_number, r.child_iin, r.year, r.act_record_number, "
    "c.certificate_number FROM registry_submission AS s "
    "LEFT JOIN registry_registration AS r ON r.submission_id = s.id "
    "LEFT JOIN registry_certificate AS c ON c.registration_id = r.id "
    "WHERE s.id > :last ORDER BY s.id LIMIT :batch"
)


def _key_existing_submissions() -> None:
    connection = op.get_bind()
    keys = sa.table("registry_search_key", sa.column("key"), sa.column("submission_id"))
    last = ""
    while batch := connection.execute(_EXISTING, {"last": last, "batch": _BATCH}).all():
        values = []
        for row in batch:
            found = submission_keys(json.loads(row.dossier), row.tracking_number)
            if row.child_iin is not None:
                found += registration_keys(
                    row.child_iin, row.year, row.act_record_number, row.certificate_number or ""
                )
            values += [{"key": key, "submission_id": row.id} for key in found]
        connection.execute(keys.insert(), values)
        last = batch[-1].id


def downgrade() -> None:
    op.drop_index("ix_registry_search_key_submission_id", table_name="registry_search_key")
    op.drop_index("ix_registry_search_key_key", table_name="registry_search_key")
    op.drop_table("registry_search_key")
