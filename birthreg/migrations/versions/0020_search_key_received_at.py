"""search: each key keeps its submission's time; one index answers a search on its own

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

`registry_search_key.received_at` (the submission's, filled from it) and the index `(key,
received_at, submission_id)`, which replaces the index on `key` alone: a search reads the keys
it matches from the index, with their submissions' times, and sorts only those. Before, it
either joined every match to its submission to sort them, or walked the submissions from the
newest and probed each one's keys; which one the planner took depended on its guess of how the
matches were spread over time (a surname's start at 160,000 submissions: 280 ms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from birthreg.models import UTCDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_search_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE registry_search_key SET received_at = (SELECT s.received_at FROM "
        "registry_submission s WHERE s.id = registry_search_key.submission_id)"
    )
    with op.batch_alter_table("registry_search_key", schema=None) as batch_op:
        batch_op.alter_column("received_at", existing_type=UTCDateTime(), nullable=False)
        batch_op.create_index(
            "ix_registry_search_key_found", ["key", "received_at", "submission_id"]
        )
        batch_op.drop_index("ix_registry_search_key_key")


def downgrade() -> None:
    with op.batch_alter_table("registry_search_key", schema=None) as batch_op:
        batch_op.create_index("ix_registry_search_key_key", ["key"])
        batch_op.drop_index("ix_registry_search_key_found")
        batch_op.drop_column("received_at")
