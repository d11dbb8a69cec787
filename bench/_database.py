"""The database a benchmark runs against: SQLite in a temporary directory, or a schema of its own
in the PostgreSQL database that BIRTHREG_BENCH_DATABASE_URL names (not a benchmark itself)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from birthreg.db import make_engine, normalise_url


@contextmanager
def bench_database(tmp: str) -> Iterator[str]:
    """A database URL for the run: SQLite in `tmp`, or a new schema (the search path of the URL
    given) in the PostgreSQL database of BIRTHREG_BENCH_DATABASE_URL, dropped afterwards, so
    that the database's other contents stay as they are."""
    url = os.environ.get("BIRTHREG_BENCH_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield normalise_url(url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
