"""scale: the indexes that keep a clerk's and a parent's pages flat at millions of births

Revision ID: 0011
Revises: 0004
Create Date: 2026-12-06

- `audit_entry (object_type, object_id)`: a submission's history (was a sequential scan of the
  whole trail, ten rows per birth);
- `registry_submission.previous_id`: the submissions that replaced one;
- `enrollment.certificate_serial`: the enrollment behind a parent's key, on every parent page;
- `registry_submission (received_at, id)`, `(status, received_at, id)` and `(facility_bin,
  received_at, id)`: the queue, unfiltered or by status or facility, read in its order and
  stopped at the page's end; its keyset condition is the row comparison
  `(received_at, id) > (m, last)`, a range on each. They replace the single-column indexes on
  `received_at`, `status` and `facility_bin`, which they cover.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_object", ["object_type", "object_id"])
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_certificate_serial", ["certificate_serial"])
    with op.batch_alter_table("registry_submission", schema=None) as batch_op:
        batch_op.create_index("ix_registry_submission_previous_id", ["previous_id"])
        batch_op.create_index("ix_registry_submission_queue", ["received_at", "id"])
        batch_op.create_index(
            "ix_registry_submission_status_queue", ["status", "received_at", "id"]
        )
        batch_op.create_index(
            "ix_registry_submission_facility_queue", ["facility_bin", "received_at", "id"]
        )
        batch_op.drop_index("ix_registry_submission_received_at")
        batch_op.drop_index("ix_registry_submission_status")
        batch_op.drop_index("ix_registry_submission_facility_bin")


def downgrade() -> None:
    with op.batch_alter_table("registry_submission", schema=None) as batch_op:
        batch_op.create_index("ix_registry_submission_facility_bin", ["facility_bin"])
        batch_op.create_index("ix_registry_submission_status", ["status"])
        batch_op.drop_index("ix_registry_submission_facility_queue")
        batch_op.create_index("ix_registry_submission_received_at", ["received_at"])
        batch_op.drop_index("ix_registry_submission_status_queue")
        batch_op.drop_index("ix_registry_submission_queue")
        batch_op.drop_index("ix_registry_submission_previous_id")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_certificate_serial")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_object")
