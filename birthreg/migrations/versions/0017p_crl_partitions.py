"""pki: CRL partitions (each certificate names its partition's CRL; /pki/crl keeps the rest)

Revision ID: 0017p
Revises: 0017
Create Date: 2026-12-06

Certificates already issued name /pki/crl: they stay in partition 0, whose CRL is still served
there. New certificates fill partitions 1, 2, … of `PARTITION_SIZE` each (see `signing.ca.crl`).
`pki_crl_partition` counts each partition's certificates and revocations; partition 0 starts
with the revocations made so far, so the CRL already published for it stays current.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from birthreg.models import UTCDateTime

revision = "0017p"
down_revision = "0017"
branch_labels = None
depends_on = None

REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    partitions = op.create_table(
        "pki_crl_partition",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("revoked", sa.Integer(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("number"),
    )
    with op.batch_alter_table("pki_certificate", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("crl_partition", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "ix_pki_certificate_partition_revoked",
            ["crl_partition", "not_after", "serial", "revoked_at", "revocation_reason"],
            unique=False,
            postgresql_where=REVOKED,
            sqlite_where=REVOKED,
        )
    with op.batch_alter_table("pki_crl", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("crl_partition", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "ix_pki_crl_scope_partition_number", ["scope", "crl_partition", "number"], unique=False
        )
    connection = op.get_bind()
    certificate = sa.table(
        "pki_certificate", sa.column("revoked_at"), sa.column("not_after", UTCDateTime())
    )
    issued, revoked, not_after = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(certificate.c.revoked_at),
            sa.func.max(certificate.c.not_after),
        )
    ).one()
    op.bulk_insert(
        partitions,
        [{"number": 0, "issued": issued, "revoked": revoked, "not_after": not_after}],
    )


def downgrade() -> None:
    # Before partitions, the newest CRL was the one served at /pki/crl: keep only partition 0's.
    op.execute("DELETE FROM pki_crl WHERE crl_partition <> 0")
    with op.batch_alter_table("pki_crl", schema=None) as batch_op:
        batch_op.drop_index("ix_pki_crl_scope_partition_number")
        batch_op.drop_column("crl_partition")
    with op.batch_alter_table("pki_certificate", schema=None) as batch_op:
        batch_op.drop_index("ix_pki_certificate_partition_revoked")
        batch_op.drop_column("crl_partition")
    op.drop_table("pki_crl_partition")
