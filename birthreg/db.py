"""Database engines from settings: SQLite in the data dir by default, any SQLAlchemy URL otherwise.

PostgreSQL goes through psycopg 3 (`postgresql+psycopg://…`); a bare `postgresql://` or
`postgres://` URL is read as that too, so that a URL copied from elsewhere does not pull in
psycopg2. The schema is made by Alembic (`migrate`), never by `create_all`, so that SQLite and
PostgreSQL databases are built by the same steps.

On SQLite every transaction starts with BEGIN IMMEDIATE: writers are serialised at the start of a
transaction instead of failing at its end, which is what makes read-then-write sequences (the
audit chain's head, gapless numbers) safe there. PostgreSQL gets row locks (`with_for_update`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
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
            if not autocommit:
                kwargs["connect_args"]["factory"] = _writer_lock_factory(
                    Path(parsed.database).resolve()
                )
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if not autocommit:
            event.listen(engine, "begin", _sqlite_begin_immediate)
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


def _sqlite_begin_immediate(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        # A reader (see `reading`): a deferred transaction takes no lock, and in WAL mode it
        # reads a snapshot while a writer goes on.
        connection.exec_driver_sql("BEGIN")
        return
    dbapi = connection.connection.dbapi_connection
    if isinstance(dbapi, _WriterLocked):
        dbapi.wait_for_writer_lock()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi, _WriterLocked):
            dbapi.release_writer_lock()
        raise


class _WriterLocked(sqlite3.Connection):
    """A SQLite connection whose writers queue on a file lock before BEGIN IMMEDIATE.

    SQLite makes a writer that finds the database locked poll: its busy handler sleeps 1, 2, 5,
    10, ... up to 100 ms between tries, so with two worker processes a request could wait
    100 ms for a lock that was free after 2. An `flock` on a file beside the database is tried
    far more often and costs nothing to try (see wait_for_writer_lock), in this process and in
    others. The lock is taken before BEGIN IMMEDIATE and let go after COMMIT or ROLLBACK; a
    crashed process loses it with its file descriptors. SQLite's own lock stays the authority:
    this only keeps writers from sleeping long while waiting for it.
    """

    lock_path: Path
    _lock_fd: int | None = None
    _held = False

    def wait_for_writer_lock(self) -> None:
        """Take the lock, waiting at most BUSY_TIMEOUT (as SQLite would), then raise SQLite's
        own "database is locked". Tried again every 0.1 ms at first and every 2 ms at most: a
        writer that never finishes holds the others up for the timeout, not for ever."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + BUSY_TIMEOUT
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
        self._held = True

    def release_writer_lock(self) -> None:
        if self._held and self._lock_fd is not None:
            self._held = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _writer_lock_factory(database: Path) -> type[_WriterLocked]:
    """A `_WriterLocked` class for the database at `database` (sqlite3.connect's factory)."""
    return type(
        "_WriterLocked",
        (_WriterLocked,),
        {"lock_path": database.with_name(database.name + "-writer.lock")},
    )


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
    with Session(request.app.state.engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
