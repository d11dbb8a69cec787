"""a record's life: search keys, corrections, issuances; more than one certificate a record

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-06

`registry_search_key` holds what each submission is found by (`birthreg.registry.search_keys`):
the parents' and the child's IINs, surnames, the tracking number, the act record and the
certificate number. Submissions that exist already get theirs from their stored dossiers, their
registrations and certificates, a thousand at a time.

A registration may now have several certificates (the original, corrected ones, copies): the
unique key on `registry_certificate.registration_id` becomes a plain index, and a superseded
certificate points at the one that replaced it (`superseded_by`). SQLite cannot drop a
constraint, so the table is copied (its foreign keys checked at commit, not at the drop).
`registry_correction` holds the requests to correct a certificate and their decisions,
`registry_issuance` every issuance (original, corrected, copy, PDF download); certificates issued
before get an `original` entry at their registration's time.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models
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
    _certificates_per_registration()
    _corrections_and_issuances()


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


def _certificate_table(*, unique_registration: bool) -> sa.Table:
    """registry_certificate as 0006 left it (for the copy), with or without the unique key."""
    text = sqlmodel.sql.sqltypes.AutoString
    return sa.Table(
        "registry_certificate",
        sa.MetaData(),
        sa.Column("id", text(length=64), primary_key=True),
        sa.Column("registration_id", sa.Integer(), sa.ForeignKey("registry_registration.id"),
                  nullable=False),
        sa.Column("certificate_number", text(length=32), nullable=False, unique=True),
        sa.Column("fields", text(), nullable=False),
        sa.Column("qr", text(), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("issued_at", birthreg.models.UTCDateTime(), nullable=False),
        *([sa.UniqueConstraint("registration_id")] if unique_registration else []),
    )  # fmt: skip


def _certificates_per_registration() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The copy drops the old table under registry_certificate_pdf's foreign key: checked at
        # commit instead, when the new table has every row again.
        op.execute("PRAGMA defer_foreign_keys = ON")
        with op.batch_alter_table(
            "registry_certificate",
            recreate="always",
            copy_from=_certificate_table(unique_registration=False),
        ) as batch_op:
            batch_op.add_column(sa.Column("superseded_by", sa.String(length=64), nullable=True))
            batch_op.create_foreign_key(
                "fk_registry_certificate_superseded_by",
                "registry_certificate",
                ["superseded_by"],
                ["id"],
            )
    else:
        op.drop_constraint(
            "registry_certificate_registration_id_key", "registry_certificate", type_="unique"
        )
        op.add_column(
            "registry_certificate",
            sa.Column(
                "superseded_by",
                sa.String(length=64),
                sa.ForeignKey("registry_certificate.id"),
                nullable=True,
            ),
        )
    op.create_index(
        "ix_registry_certificate_registration_id", "registry_certificate", ["registration_id"]
    )


def _corrections_and_issuances() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "registry_correction",
        sa.Column("id", text(length=36), primary_key=True),
        sa.Column("certificate_id", text(length=64), sa.ForeignKey("registry_certificate.id"),
                  nullable=False, index=True),
        sa.Column("registration_id", sa.Integer(), sa.ForeignKey("registry_registration.id"),
                  nullable=False, index=True),
        sa.Column("changes", text(), nullable=False),
        sa.Column("reason", text(length=1000), nullable=False),
        sa.Column("status", text(length=16), nullable=False, index=True),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("requested_by_holder", text(length=40), nullable=True),
        sa.Column("signed_request", text(), nullable=True),
        sa.Column("requested_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("staff_user.id"), nullable=True),
        sa.Column("decided_at", birthreg.models.UTCDateTime(), nullable=True),
        sa.Column("decision_reason", text(length=1000), nullable=True),
        sa.Column("new_certificate_id", text(length=64),
                  sa.ForeignKey("registry_certificate.id"), nullable=True),
    )  # fmt: skip
    op.create_table(
        "registry_issuance",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("certificate_id", text(length=64), sa.ForeignKey("registry_certificate.id"),
                  nullable=False, index=True),
        sa.Column("registration_id", sa.Integer(), sa.ForeignKey("registry_registration.id"),
                  nullable=False, index=True),
        sa.Column("kind", text(length=16), nullable=False),
        sa.Column("at", birthreg.models.UTCDateTime(), nullable=False),
        sa.Column("actor", text(length=80), nullable=False),
        sa.Column("role", text(length=16), nullable=False),
        sa.Column("collector_name", text(length=200), nullable=True),
        sa.Column("collector_iin", text(length=12), nullable=True),
        sa.Column("document_checked", sa.Boolean(), nullable=True),
        sa.Column("reason", text(length=1000), nullable=True),
    )  # fmt: skip
    op.execute(
        "INSERT INTO registry_issuance (certificate_id, registration_id, kind, at, actor, role) "
        "SELECT c.id, c.registration_id, 'original', c.issued_at, 'system', 'system' "
        "FROM registry_certificate AS c"
    )


def downgrade() -> None:
    op.drop_table("registry_issuance")
    op.drop_table("registry_correction")
    op.drop_index("ix_registry_certificate_registration_id", table_name="registry_certificate")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")
        with op.batch_alter_table(
            "registry_certificate",
            recreate="always",
            copy_from=_certificate_table(unique_registration=True),
        ):
            pass  # the copy leaves superseded_by out and puts the unique key back
    else:
        op.drop_column("registry_certificate", "superseded_by")
        op.create_unique_constraint(
            "registry_certificate_registration_id_key", "registry_certificate", ["registration_id"]
        )
    op.drop_index("ix_registry_search_key_submission_id", table_name="registry_search_key")
    op.drop_index("ix_registry_search_key_key", table_name="registry_search_key")
    op.drop_table("registry_search_key")
