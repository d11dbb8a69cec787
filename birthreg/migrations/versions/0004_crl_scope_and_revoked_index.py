"""pki: the root's CRL beside the issuing CA's, and an index for building CRLs

Revision ID: 0004
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0007"
branch_labels = None
depends_on = None

REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("pki_crl", schema=None) as batch_op:
        # Every CRL issued before this revision is the issuing CA's.
        batch_op.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="issuing",
            )
        )
        batch_op.create_index("ix_pki_crl_scope_number", ["scope", "number"], unique=False)
    with op.batch_alter_table("pki_certificate", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pki_certificate_revoked",
            ["not_after", "serial", "revoked_at", "revocation_reason"],
            unique=False,
            postgresql_where=REVOKED,
            sqlite_where=REVOKED,
        )


def downgrade() -> None:
    with op.batch_alter_table("pki_certificate", schema=None) as batch_op:
        batch_op.drop_index("ix_pki_certificate_revoked")
    with op.batch_alter_table("pki_crl", schema=None) as batch_op:
        batch_op.drop_index("ix_pki_crl_scope_number")
        batch_op.drop_column("scope")
