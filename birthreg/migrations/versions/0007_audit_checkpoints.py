"""audit checkpoints: the chain's head signed by the seal, kept

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import birthreg.models

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The chain's own rows and their hashes are unchanged: databases made before this revision
    # verify as they are, with no checkpoint until the first is signed.
    op.create_table(
        "audit_checkpoint",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signed_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.Column("jws", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
