"""the registry: nonces of the wards' sealed "printed at the ward" claims (a claim counts once)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

`registry_ward_print_nonce` keeps each accepted claim's nonce until the claim is stale, so that
the same sealed claim sent again is refused. Nothing was there before: claims were not sealed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from birthreg.models import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_ward_print_nonce",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("facility_bin", sa.String(length=12), nullable=False),
        sa.Column("stale_after", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["registry_certificate.id"]),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index(
        "ix_registry_ward_print_nonce_stale_after", "registry_ward_print_nonce", ["stale_after"]
    )


def downgrade() -> None:
    op.drop_index(
        "ix_registry_ward_print_nonce_stale_after", table_name="registry_ward_print_nonce"
    )
    op.drop_table("registry_ward_print_nonce")
