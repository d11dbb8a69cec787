"""The engine factory reaches SQLite and (in CI) the real PostgreSQL through psycopg 3."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from birthreg import db
from birthreg.config import Settings
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


# -- SQLite: WAL, BEGIN IMMEDIATE for writers, deferred readers, the busy timeout ---------------


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    try:
        yield engine
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        timeout = connection.execute(text("PRAGMA busy_timeout")).scalar_one()
    assert timeout == int(db.BUSY_TIMEOUT * 1000)


def test_a_second_writer_waits_for_the_first_and_a_reader_for_neither(
    sqlite_engine: Engine,
) -> None:
    first = sqlite_engine.connect()
    first_transaction = first.begin()
    # Nothing written yet: BEGIN IMMEDIATE alone holds the write lock.
    first.execute(text("SELECT count(*) FROM t")).scalar_one()
    second_done = threading.Event()

    def second_writer() -> None:
        with sqlite_engine.begin() as connection:
            # Read, then write: safe because the transaction began with the write lock.
            count = connection.execute(text("SELECT count(*) FROM t")).scalar_one()
            connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": count + 1})
        second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    try:
        first.execute(text("INSERT INTO t VALUES (1)"))
        # A reader is not held up by the writer's lock, and sees the last committed state.
        with reading(sqlite_engine) as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        assert not second_done.wait(0.3)  # still waiting for the first writer
        first_transaction.commit()
        assert second_done.wait(10)
    finally:
        first.close()
        thread.join(10)
    with reading(sqlite_engine) as reader:
        assert reader.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 2]


def test_a_reader_keeps_its_snapshot_while_a_writer_commits(sqlite_engine: Engine) -> None:
    with reading(sqlite_engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
        with sqlite_engine.begin() as writer:  # not held up by the open reader
            writer.execute(text("INSERT INTO t VALUES (1)"))
        assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    with reading(sqlite_engine) as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_a_writer_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "BUSY_TIMEOUT", 0.2)
    engine = make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        first = engine.connect()
        first_transaction = first.begin()
        first.execute(text("INSERT INTO t VALUES (1)"))
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"), engine.begin():
                pass  # BEGIN IMMEDIATE itself waits, then gives up
            assert 0.15 < time.monotonic() - started < 5
            first_transaction.commit()
            with engine.begin() as other:
                other.execute(text("INSERT INTO t VALUES (3)"))
        finally:
            first.close()
        with reading(engine) as reader:
            assert reader.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1, 3]
    finally:
        engine.dispose()
