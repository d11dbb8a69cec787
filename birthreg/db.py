"""Database engines from settings: SQLite in the data dir by default, any SQLAlchemy URL otherwise.

PostgreSQL goes through psycopg 3 (`postgresql+psycopg://…`); a bare `postgresql://` or
`postgres://` URL is read as that too, so that a URL copied from elsewhere does not pull in
psycopg2. The schema is made by Alembic (`migrate`), never by `create_all`, so that SQLite and
PostgreSQL databases are built by the same steps.

SQLite runs in WAL mode with a busy timeout, and every writing transaction starts with BEGIN
IMMEDIATE: writers are serialised at the start of a transaction instead of failing at its end,
which is what makes read-then-write sequences (the audit chain's head, gapless numbers) safe
there; a writer that finds another at work waits in SQLite's busy handler. Readers (`reading`)
start deferred transactions and never wait. PostgreSQL gets row locks (`with_for_update`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlmodel import Session, create_engine

from birthreg.config import Settings
from birthreg.services import services

PACKAGE_DIR = Path(__file__).resolve().parent


def normalise_url(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: str | URL) -> str:
    """The URL with any password masked, for messages."""
    return normalise_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, *, echo: bool = False, autocommit: bool = False) -> Engine:
    """An engine for url. `autocommit` (for tests and tools that only look) makes every
    statement its own transaction, so that such a reader never holds a lock."""
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if autocommit:
        kwargs["isolation_level"] = "AUTOCOMMIT"
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
        if not autocommit:
            event.listen(engine, "begin", _sqlite_begin)
    return engine


def engine_from_settings(settings: Settings, *, echo: bool = False) -> Engine:
    return make_engine(settings.database_url, echo=echo)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is turned off so that "begin" below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        # Write-ahead logging: one append and one fsync per commit (synchronous stays FULL, so a
        # committed transaction survives a power cut), and readers never wait for a writer.
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes SQLite's write lock when its transaction starts (BEGIN IMMEDIATE), so a
    # read-then-write sequence is never refused at its first write; a writer that finds the lock
    # taken waits up to the busy timeout. A reader (see `reading`) starts a deferred transaction:
    # it takes no lock and, in WAL mode, reads a snapshot while a writer goes on.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


#: How long a SQLite writer waits for another before "database is locked" (seconds).
BUSY_TIMEOUT = 10.0

#: Execution option of a connection that only reads (see `reading`).
READ_ONLY = "birthreg_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for a look-up that writes nothing: on SQLite its transaction does not take
    the write lock (BEGIN instead of BEGIN IMMEDIATE), so it never waits for a writer and never
    makes one wait. Rolled back at the end."""
    reader = _READERS.get(engine)
    if reader is None:
        # Options set on an engine are copied once; set on each connection they cost more than
        # the look-up itself (SQLAlchemy copies the connection's event dispatch).
        reader = _READERS[engine] = engine.execution_options(**{READ_ONLY: True})
    with reader.connect() as connection:
        try:
            yield connection
        finally:
            connection.rollback()


_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection for a long read that must see one state of the database throughout (the
    audit trail's walk), while the service goes on writing: a read-only REPEATABLE READ
    transaction on PostgreSQL, a deferred one on SQLite (in WAL mode it keeps the snapshot of
    its first read). Rolled back at the end."""
    if engine.dialect.name != "postgresql":
        with reading(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        try:
            yield connection
        finally:
            connection.rollback()


@contextmanager
def one_writer_here(engine: Engine) -> Iterator[None]:
    """On SQLite, what writes in this process takes turns (the intake's whole receipt, the
    notification sender's short transactions); elsewhere nothing.

    A thread holding SQLite's one write lock needs the GIL back after every statement: with
    another thread of the process verifying a dossier beside it, each statement waited up to
    the interpreter's 5 ms switch interval, the lock was held ten times as long, and the other
    worker process waited in SQLite's busy handler (bench/intake.py: 70% of the intake's time in
    BEGIN IMMEDIATE, p99 0.5-1 s). Threads cannot compute in parallel anyway; parallel intakes
    are the worker processes'. PostgreSQL locks rows, so there they run side by side."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _ONE_WRITER:
        yield


_ONE_WRITER = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (safe to run again, and concurrently on
    PostgreSQL: the upgrade holds an advisory lock)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back on any exception.

    Used with scope="function" so that the commit happens before the response is sent: a
    failed commit is an error response, never a success for data that was not kept.
    """
    with Session(services(request).engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_read_session(request: Request) -> Iterator[Session]:
    """A session for a route that only reads (the queue, public status): on the read replica
    when BIRTHREG_DATABASE_REPLICA_URL names one, else on the primary. Never commits.

    A replica lags its primary by a moment: what was written a moment ago may not be there yet
    (a submission's status just after intake). Only routes that can live with that use it."""
    engine = services(request).read_engine
    # A reading connection: on SQLite its transaction takes no write lock, so the route's other
    # session (the signed-in user's) is never waited for.
    with reading(engine) as connection, Session(bind=connection) as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
