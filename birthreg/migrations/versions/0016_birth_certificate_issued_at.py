"""the ward's births: when the registry issued the birth certificate (hours from birth to
certificate on the ward's list)

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-06

`birth.certificate_issued_at` is set when the ward or the parents' pages learn from the registry
that the birth is registered (the certificate's `issued_at`). Births registered before stay
empty until a page asks the registry again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from birthreg.models import UTCDateTime

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("birth", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_issued_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("birth", schema=None) as batch_op:
        batch_op.drop_column("certificate_issued_at")
