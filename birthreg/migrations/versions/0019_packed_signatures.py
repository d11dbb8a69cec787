"""the ward's seals and the parents' signatures packed (DEFLATE with preset dictionaries)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

`birth.seal_signature` (the facility's CMS seal in base64, 2.7 KB: its seal certificate and the
CA chain in every one) and `parents_application.mother_signature` / `.father_signature` (JSON
signature objects, 3 KB: the CA chain in every JWS header) become packed values
(`birthreg.packed`), as the registry's submissions did in 0018. Each side keeps its own copy
(the ward and the registry may have separate databases); only smaller. Rows already there are
packed here; downgrade unpacks them, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from birthreg.packed import Packer, unpack

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BATCH = 1000
#: (table, its packed columns, NOT NULL, the column a row's dictionary kind comes from)
TABLES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("birth", ("seal_signature",), True),
    ("parents_application", ("mother_signature", "father_signature"), False),
)


def _kind(table: str, row: Any) -> str:
    # As ward.context.seal_kind and parents.service.SIGNATURE_KIND.
    return f"seal:{row.facility_id}" if table == "birth" else "application_signature"


def _convert(
    table: str,
    columns: tuple[str, ...],
    suffix: str,
    value: Callable[[sa.Connection, str, Any, str], Any],
    column_type: type[sa.types.TypeEngine[Any]],
) -> None:
    connection = op.get_bind()
    extra = ", facility_id" if table == "birth" else ""
    old = ", ".join(f"{column}_{suffix} AS {column}" for column in columns)
    select = sa.text(
        f"SELECT id{extra}, {old} FROM {table} "  # noqa: S608 (our names)
        f"WHERE id > :last ORDER BY id LIMIT {BATCH}"
    )
    update = sa.text(
        f"UPDATE {table} SET "  # noqa: S608 (our names)
        + ", ".join(f"{column} = :{column}" for column in columns)
        + " WHERE id = :id"
    ).bindparams(*(sa.bindparam(column, type_=column_type) for column in columns))
    last = ""
    while rows := connection.execute(select, {"last": last}).all():
        changed = [
            {"id": row.id, **{c: value(connection, table, row, c) for c in columns}}
            for row in rows
        ]
        connection.execute(update, changed)
        last = rows[-1].id


def _swap(
    suffix: str,
    column_type: type[sa.types.TypeEngine[Any]],
    default: str,
    value: Callable[[sa.Connection, str, Any, str], Any],
) -> None:
    for table, columns, required in TABLES:
        for column in columns:
            op.execute(f"ALTER TABLE {table} RENAME COLUMN {column} TO {column}_{suffix}")
            op.add_column(table, sa.Column(
                column, column_type(), nullable=not required,
                server_default=sa.text(default) if required else None,
            ))
        _convert(table, columns, suffix, value, column_type)
        for column in columns:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}_{suffix}")
            if required and op.get_bind().dialect.name == "postgresql":
                op.alter_column(table, column, server_default=None)


def upgrade() -> None:
    packer = Packer(op.get_bind())

    def packed(connection: sa.Connection, table: str, row: Any, column: str) -> bytes | None:
        text = getattr(row, column)
        return None if text is None else packer.pack(_kind(table, row), text)

    empty = "X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea"
    _swap("text", sa.LargeBinary, empty, packed)
    packer.write(op.get_bind())


def downgrade() -> None:
    def unpacked(connection: sa.Connection, table: str, row: Any, column: str) -> str | None:
        value = getattr(row, column)
        return None if value is None else unpack(connection, value)

    _swap("packed", sa.Text, "''", unpacked)
