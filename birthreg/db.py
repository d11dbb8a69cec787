"""Database engines from settings: SQLite in the data dir by default, any SQLAlchemy URL otherwise.

PostgreSQL goes through psycopg 3 (`postgresql+psycopg://…`); a bare `postgresql://` or
`postgres://` URL is read as that too, so that a URL copied from elsewhere does not pull in
psycopg2. Tables (and Alembic) come with the ward and registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import create_engine

from birthreg.config import Settings


def normalise_url(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: str | URL) -> str:
    """The URL with any password masked, for messages."""
    return normalise_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        # The app serves requests from a thread pool; SQLite's default forbids that.
        kwargs["connect_args"] = {"check_same_thread": False}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def engine_from_settings(settings: Settings, *, echo: bool = False) -> Engine:
    return make_engine(settings.database_url, echo=echo)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
