"""a record's life: corrections, issuances; more than one certificate a registration

Revision ID: 0009b
Revises: 0011
Create Date: 2026-12-06

A registration may now have several certificates (the original, corrected ones, copies): the
unique key on `registry_certificate.registration_id` becomes a plain index, and a superseded
certificate points at the one that replaced it (`superseded_by`). SQLite cannot drop a
constraint, so the table is copied, its PDFs set aside meanwhile.
`registry_correction` holds the requests to correct a certificate and their decisions,
`registry_issuance` every issuance (original, corrected, copy, PDF download); certificates issued
before get an `original` entry at their registration's time.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models

revision = "0009b"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _certificates_per_registration()
    _corrections_and_issuances()


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


def _set_pdfs_aside() -> None:
    """SQLite: the PDFs go to a plain table for the certificates' copy. Dropping the old
    certificate table under registry_certificate_pdf's foreign key would fail (SQLite counts the
    PDFs as orphans of the dropped table, and the copy, renamed, does not clear that count)."""
    op.execute(
        "CREATE TABLE _set_aside_certificate_pdf AS "
        "SELECT certificate_id, pdf, made_at FROM registry_certificate_pdf"
    )
    op.drop_table("registry_certificate_pdf")


def _put_pdfs_back() -> None:
    """registry_certificate_pdf as 0006 made it, with the PDFs set aside."""
    op.create_table(
        "registry_certificate_pdf",
        sa.Column("certificate_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["registry_certificate.id"]),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    op.execute(
        "INSERT INTO registry_certificate_pdf (certificate_id, pdf, made_at) "
        "SELECT certificate_id, pdf, made_at FROM _set_aside_certificate_pdf"
    )
    op.drop_table("_set_aside_certificate_pdf")


def _certificates_per_registration() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _set_pdfs_aside()
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
        _put_pdfs_back()
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
        _set_pdfs_aside()
        with op.batch_alter_table(
            "registry_certificate",
            recreate="always",
            copy_from=_certificate_table(unique_registration=True),
        ):
            pass  # the copy leaves superseded_by out and puts the unique key back
        _put_pdfs_back()
    else:
        op.drop_column("registry_certificate", "superseded_by")
        op.create_unique_constraint(
            "registry_certificate_registration_id_key", "registry_certificate", ["registration_id"]
        )
