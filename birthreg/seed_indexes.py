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

from sqlalchemy import Connection, Engine, text

#: The fewest births a seed adds before it sets the indexes aside.
BULK = 50_000
#: Memory for each index's sort (the server's default is 64 MB: more spills to disk).
SORT_MEMORY = "1GB"
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
    forgotten with it); the names made. Nothing to do on SQLite, or when none is away."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        if connection.execute(_THERE, {"name": _KEPT}).scalar_one() is None:
            return []
        kept = connection.execute(_REMEMBERED).all()
    made = []
    for name, definition in kept:
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL maintenance_work_mem = '{SORT_MEMORY}'"))
            if connection.execute(_THERE, {"name": name}).scalar_one() is not None:
                pass  # made already (a restore stopped between making it and forgetting it)
            else:
                connection.execute(text(definition))
                made.append(name)
            connection.execute(_FORGET, {"name": name})
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS seed_dropped_index"))
    return made
