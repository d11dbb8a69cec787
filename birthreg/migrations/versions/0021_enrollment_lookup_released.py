"""enrollment: a lookup may be released (NULL) once its code can no longer be redeemed

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

An enrollment code's public lookup is 4 characters of 30 (810,000 lookups), and it was unique
for ever: at a country's 500,000 enrollments a year, new codes would have found every lookup
taken within two years. Now a new code takes a lookup from an enrollment that is used, locked
or expired (`birthreg.ward.enrollments._release_lookup`), which keeps the unique index (NULLs
do not collide) and so the guard against two codes drawing the same lookup at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.alter_column("lookup", existing_type=sa.String(length=8), nullable=True)


def downgrade() -> None:
    # A released lookup gets a placeholder no code can have (lower-case hex is outside the
    # codes' alphabet): the old schema wants one in every row.
    op.execute("UPDATE enrollment SET lookup = substr(id, 1, 8) WHERE lookup IS NULL")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.alter_column("lookup", existing_type=sa.String(length=8), nullable=False)
