"""A big `birthreg seed` on PostgreSQL writes its tables without their secondary indexes.

Maintaining an index row by row, at a random place in a tree larger than the server's buffers,
is most of what a seeded birth costs the server once the tables are large; an index made at the
end sorts its entries once. So when a seed adds at least as many births as the database holds
(and at least `BULK`), the non-unique indexes of the tables it fills are dropped before it
writes and made again after: PostgreSQL's own advice for populating a database (its
documentation, "Populating a Database": remove indexes, increase maintenance_work_mem). Primary
keys and unique indexes stay, and with them every guarantee the schema gives.

While they are away the service beside the seed still answers, more slowly. Each index's
definition (`pg_get_indexdef`) is kept in `seed_dropped_index` in the transaction that drops it,
so a seed stopped by force leaves what the next seed, or `birthreg init`, needs to make them
again (`restore`); the table goes once they are back.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy import Connection, Engine, text

#: The fewest births a seed adds before it sets the indexes aside.
BULK = 50_000
#: Memory for each index's sort (the server's default is 64 MB: more spills to disk).
SORT_MEMORY = "1GB"
#: Indexes made at once, each by its own connection. PostgreSQL already sorts a large table's
#: index with parallel workers (max_parallel_maintenance_workers); two at a time still made the
#: 28 indexes of 100,000 seeded births in 5.6-5.9 s instead of 6.4-7.1 (2 cores, 2026-12-06).
MAKERS = 2
_KEPT = "seed_dropped_index"
_KEEP = text("CREATE TABLE IF NOT EXISTS seed_dropped_index "
             "(name text PRIMARY KEY, definition text NOT NULL)")
_REMEMBER = text("INSERT INTO seed_dropped_index (name, definition) "
                 "VALUES (:name, :definition) ON CONFLICT (name) DO NOTHING")
_REMEMBERED = text("SELECT name, definition FROM seed_dropped_index ORDER BY name")
_FORGET = text("DELETE FROM seed_dropped_index WHERE name = :name")
_THERE = text("SELECT to_regclass(quote_ident(:name))")
_SECONDARY = text("""
    SELECT index_class.relname, pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class index_class ON index_class.oid = i.indexrelid
    JOIN pg_class table_class ON table_class.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = table_class.relnamespace
    WHERE n.nspname = current_schema() AND table_class.relname = ANY(:tables)
      AND NOT i.indisunique AND NOT i.indisprimary
    ORDER BY 1
""")


def worth_it(connection: Connection, births: int) -> bool:
    """Whether a seed of `births` on this database sets the indexes aside."""
    if connection.dialect.name != "postgresql" or births < BULK:
        return False
    stored = connection.execute(text("SELECT count(*) FROM birth")).scalar_one()
    return bool(births >= stored)


def set_aside(engine: Engine, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of `tables`, their definitions kept; their names."""
    with engine.begin() as connection:
        connection.execute(_KEEP)
        found = connection.execute(_SECONDARY, {"tables": list(tables)}).all()
        for name, definition in found:
            connection.execute(_REMEMBER, {"name": name, "definition": definition})
            connection.execute(text(f'DROP INDEX "{name}"'))
    return [name for name, _definition in found]


def restore(engine: Engine) -> list[str]:
    """Make again every index a seed set aside (each in its own transaction, its definition
    forgotten with it, `MAKERS` at a time); the names made. Nothing to do on SQLite, or when
    none is away."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        if connection.execute(_THERE, {"name": _KEPT}).scalar_one() is None:
            return []
        kept = connection.execute(_REMEMBERED).all()
    with ThreadPoolExecutor(MAKERS, thread_name_prefix="seed-index") as makers:
        made = [name for name in makers.map(partial(_make, engine), kept) if name]
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS seed_dropped_index"))
    return made


def _make(engine: Engine, kept: tuple[str, str]) -> str | None:
    """Make one index set aside (`kept`: its name and definition) and forget it, in one
    transaction; its name, or None when it was there already (a restore stopped between
    making it and forgetting it)."""
    name, definition = kept
    with engine.begin() as connection:
        connection.execute(text(f"SET LOCAL maintenance_work_mem = '{SORT_MEMORY}'"))
        there = connection.execute(_THERE, {"name": name}).scalar_one() is not None
        if not there:
            connection.execute(text(definition))
        connection.execute(_FORGET, {"name": name})
    return None if there else name
