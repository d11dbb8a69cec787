"""a submission's dossier, report and receipt packed (DEFLATE with preset dictionaries)

Revision ID: 0018
Revises: 0017p
Create Date: 2026-12-06

`registry_submission.dossier`, `.report` and `.receipt` were JSON texts (14 KB a submission,
the dossier's and the receipt's base64 left uncompressed by PostgreSQL's TOAST); they become
packed values (`birthreg.packed`: about 2.3 KB together), with the dictionaries they are packed
with in `stored_dictionary`. Rows already there are packed here, a thousand at a time; their
texts come back unchanged (downgrade unpacks them again).

A certificate's signed PDF (`registry_certificate_pdf`) is kept zlib-compressed where that saves
a tenth or more (`deflated`); PDFs already made are compressed here, byte for byte the same
when read.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

import birthreg.models
from birthreg.packed import Packer, unpack
from birthreg.registry.stored import kind

revision = "0018"
down_revision = "0017p"
branch_labels = None
depends_on = None

COLUMNS = ("dossier", "report", "receipt")
BATCH = 1000
TABLE = "registry_submission"


def _rename_old(suffix: str) -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE {TABLE} RENAME COLUMN {column} TO {column}_{suffix}")


def _add(column_type: sa.types.TypeEngine[Any], default: str) -> None:
    # NOT NULL with a default while the rows are filled (SQLite adds no NOT NULL column
    # without one); PostgreSQL's default goes again after.
    for column in COLUMNS:
        op.add_column(
            TABLE,
            sa.Column(column, column_type, nullable=False, server_default=sa.text(default)),
        )


def _drop_old(suffix: str) -> None:
    for column in COLUMNS:
        op.execute(f"ALTER TABLE {TABLE} DROP COLUMN {column}_{suffix}")
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.alter_column(TABLE, column, server_default=None)


def _batches(connection: sa.Connection, suffix: str) -> Iterator[list[Any]]:
    last = ""
    old = ", ".join(f"{column}_{suffix} AS {column}" for column in COLUMNS)
    statement = sa.text(
        f"SELECT id, facility_bin, {old} FROM registry_submission "  # noqa: S608 (our names)
        f"WHERE id > :last ORDER BY id LIMIT {BATCH}"
    )
    while rows := connection.execute(statement, {"last": last}).all():
        yield list(rows)
        last = rows[-1].id


def _convert(suffix: str, value: Callable[[sa.Connection, Any, str], Any]) -> None:
    connection = op.get_bind()
    update = sa.text(
        "UPDATE registry_submission SET dossier = :dossier, report = :report, "
        "receipt = :receipt WHERE id = :id"
    ).bindparams(
        *(sa.bindparam(c, type_=sa.LargeBinary if suffix == "text" else sa.Text) for c in COLUMNS)
    )
    for rows in _batches(connection, suffix):
        changed = [
            {"id": row.id, **{c: value(connection, row, c) for c in COLUMNS}} for row in rows
        ]
        connection.execute(update, changed)


def _pdfs(change: Callable[[bytes, bool], tuple[bytes, bool]]) -> None:
    connection = op.get_bind()
    select = sa.text(
        "SELECT certificate_id, pdf, deflated FROM registry_certificate_pdf "
        "WHERE certificate_id > :last ORDER BY certificate_id LIMIT 200"
    )
    update = sa.text(
        "UPDATE registry_certificate_pdf SET pdf = :pdf, deflated = :deflated "
        "WHERE certificate_id = :id"
    ).bindparams(sa.bindparam("pdf", type_=sa.LargeBinary), sa.bindparam("deflated", sa.Boolean))
    last = ""
    while rows := connection.execute(select, {"last": last}).all():
        changed = []
        for row in rows:
            pdf, deflated = change(bytes(row.pdf), bool(row.deflated))
            changed.append({"id": row.certificate_id, "pdf": pdf, "deflated": deflated})
        connection.execute(update, changed)
        last = rows[-1].certificate_id


def _deflate_pdf(pdf: bytes, deflated: bool) -> tuple[bytes, bool]:
    """As certificate_pdf.pack_pdf: compressed when that saves a tenth or more."""
    if deflated:
        return pdf, True
    packed = zlib.compress(pdf, 9)
    return (packed, True) if len(packed) <= 0.9 * len(pdf) else (pdf, False)


def _inflate_pdf(pdf: bytes, deflated: bool) -> tuple[bytes, bool]:
    return (zlib.decompress(pdf), False) if deflated else (pdf, False)


def upgrade() -> None:
    op.add_column(
        "registry_certificate_pdf",
        sa.Column("deflated", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    _pdfs(_deflate_pdf)
    op.create_table(
        "stored_dictionary",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", birthreg.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stored_dictionary_kind", "stored_dictionary", ["kind", "created_at"])
    _rename_old("text")
    _add(sa.LargeBinary(), "X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea")
    packer = Packer(op.get_bind())

    def packed(connection: sa.Connection, row: Any, column: str) -> bytes:
        return packer.pack(kind(column, row.facility_bin), getattr(row, column))

    _convert("text", packed)
    packer.write(op.get_bind())
    _drop_old("text")


def downgrade() -> None:
    _rename_old("packed")
    _add(sa.Text(), "''")

    def unpacked(connection: sa.Connection, row: Any, column: str) -> str:
        return unpack(connection, getattr(row, column))

    _convert("packed", unpacked)
    _drop_old("packed")
    op.drop_index("ix_stored_dictionary_kind", table_name="stored_dictionary")
    op.drop_table("stored_dictionary")
    _pdfs(_inflate_pdf)
    op.execute("ALTER TABLE registry_certificate_pdf DROP COLUMN deflated")
