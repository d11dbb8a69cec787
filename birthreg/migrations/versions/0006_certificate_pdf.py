"""certificate PDFs in a table of their own; a facility's locality

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-06

A certificate's signed PDF (tens of kilobytes) moves out of `registry_certificate`, whose rows
every look-up, status check and verification reads, into `registry_certificate_pdf`; PDFs already
made move across unchanged (they are signed: their bytes must not change). A facility gets its
locality, which certificates give as the place of birth; the facility that `birthreg init` makes
gets its town.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The facility `birthreg init` makes (bootstrap.DEFAULT_FACILITY) and its town.
DEFAULT_FACILITY_BIN = "050140000011"
DEFAULT_FACILITY_LOCALITY = "Өскемен / Усть-Каменогорск"


def upgrade() -> None:
    op.add_column(
        "facility",
        sa.Column("locality", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    )
    op.execute(
        sa.text("UPDATE facility SET locality = :locality WHERE bin = :bin").bindparams(
            locality=DEFAULT_FACILITY_LOCALITY, bin=DEFAULT_FACILITY_BIN
        )
    )
    op.create_table(
        "registry_certificate_pdf",
        sa.Column("certificate_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["registry_certificate.id"]),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    # When a PDF was made was not kept; its certificate's issue is the earliest it can have been.
    op.execute(
        "INSERT INTO registry_certificate_pdf (certificate_id, pdf, made_at) "
        "SELECT id, pdf, issued_at FROM registry_certificate WHERE pdf IS NOT NULL"
    )
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35 has it): a batch copy of the table would
    # drop the old one under the new table's foreign keys.
    with op.batch_alter_table("registry_certificate", recreate="never") as batch_op:
        batch_op.drop_column("pdf")


def downgrade() -> None:
    with op.batch_alter_table("registry_certificate", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("pdf", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE registry_certificate SET pdf = (SELECT made.pdf FROM registry_certificate_pdf "
        "AS made WHERE made.certificate_id = registry_certificate.id)"
    )
    op.drop_table("registry_certificate_pdf")
    with op.batch_alter_table("facility", recreate="never") as batch_op:
        batch_op.drop_column("locality")
