"""The engine factory reaches SQLite and (in CI) the real PostgreSQL through psycopg 3."""

from __future__ import annotations

import fcntl
import gc
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from birthreg import db
from birthreg.config import Settings, make_data_dir
from birthreg.db import display_url, engine_from_settings, make_engine, normalise_url, reading


def test_round_trip_through_a_temporary_table(database_url: str) -> None:
    engine = make_engine(database_url)
    value = f"Әлия Қасымқызы {uuid.uuid4()}"
    try:
        with engine.begin() as connection:
            connection.execute(
                text("CREATE TEMPORARY TABLE birthreg_probe (id INTEGER PRIMARY KEY, value TEXT)")
            )
            connection.execute(
                text("INSERT INTO birthreg_probe (id, value) VALUES (1, :value)"), {"value": value}
            )
            stored = connection.execute(text("SELECT value FROM birthreg_probe WHERE id = 1"))
            assert stored.scalar_one() == value
        if engine.dialect.name == "postgresql":
            assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_postgres_urls_use_psycopg_3() -> None:
    for url in ("postgres://u:p@h/db", "postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"):
        assert normalise_url(url).drivername == "postgresql+psycopg"
    assert display_url("postgresql://u:hunter2@h/db") == "postgresql+psycopg://u:***@h/db"


def test_sqlite_default_lives_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIRTHREG_DATABASE_URL", raising=False)
    settings = Settings(data_dir=tmp_path / "nested" / "data", _env_file=None)  # type: ignore[call-arg]
    engine = engine_from_settings(settings)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "data").is_dir()


# -- SQLite writers queue on a file lock (birthreg.db._WriterLocked) ------------------------------


def _lock_is_free(path: Path) -> bool:
    """Whether an exclusive flock on path can be had now (from a descriptor of our own)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _eventually_free(path: Path, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not _lock_is_free(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    engine = make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    try:
        yield engine, tmp_path / "w.sqlite3-writer.lock"
    finally:
        engine.dispose()


@pytest.mark.parametrize("ending", ["commit", "rollback", "error"])
def test_a_writer_holds_the_lock_file_for_its_transaction_only(
    sqlite_engine: tuple[Engine, Path], ending: str
) -> None:
    engine, lock = sqlite_engine
    assert _lock_is_free(lock)
    connection = engine.connect()
    try:
        transaction = connection.begin()
        connection.execute(text("INSERT INTO t VALUES (1)"))
        assert not _lock_is_free(lock)  # held from BEGIN IMMEDIATE on
        if ending == "commit":
            transaction.commit()
        elif ending == "rollback":
            transaction.rollback()
        else:
            with pytest.raises(Exception, match="no such table"):
                connection.execute(text("INSERT INTO missing VALUES (1)"))
            transaction.rollback()
        assert _lock_is_free(lock)
    finally:
        connection.close()
    assert _lock_is_free(lock)


def test_a_second_writer_waits_for_the_first_and_a_reader_for_neither(
    sqlite_engine: tuple[Engine, Path],
) -> None:
    engine, lock = sqlite_engine
    first = engine.connect()
    first_transaction = first.begin()
    first.execute(text("INSERT INTO t VALUES (1)"))
    second_done = threading.Event()

    def second_writer() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
        second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    try:
        # A reader is not held up by the writer's lock, and sees the last committed state.
        with reading(engine) as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert not second_done.wait(0.3)  # still queued behind the first writer
        first_transaction.commit()
        assert second_done.wait(10)
    finally:
        first.close()
        thread.join(10)
    with reading(engine) as reader:
        assert reader.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 2]
    assert _lock_is_free(lock)


def test_serving_workers_freeze_what_start_up_made(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    make_data_dir(settings)
    settings.write_development_secrets()
    from fastapi.testclient import TestClient

    from birthreg.main import create_app

    try:
        with TestClient(create_app(settings)):
            assert gc.get_freeze_count() == 0  # tests and tools: the collector as it is
        with TestClient(create_app(settings, serving=True)):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_writer_gives_up_after_the_busy_timeout_as_sqlite_would(
    sqlite_engine: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, lock = sqlite_engine
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)
    first = engine.connect()
    first_transaction = first.begin()
    first.execute(text("INSERT INTO t VALUES (1)"))
    try:
        # SQLite's own error (sqlite3's, or SQLAlchemy's wrapping of it), as after busy_timeout.
        refused = (OperationalError, sqlite3.OperationalError)
        with pytest.raises(refused, match="database is locked"), engine.begin() as other:
            other.execute(text("INSERT INTO t VALUES (2)"))
        assert not _lock_is_free(lock)  # still the first writer's
        first_transaction.commit()
        # The writer that gave up holds nothing: its queued wait, woken now, lets go at once.
        assert _eventually_free(lock)
        with engine.begin() as other:
            other.execute(text("INSERT INTO t VALUES (3)"))
    finally:
        first.close()
    with reading(engine) as reader:
        assert reader.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 3]
