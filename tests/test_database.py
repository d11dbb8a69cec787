"""The engine factory reaches SQLite and (in CI) the real PostgreSQL through psycopg 3."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from birthreg.config import Settings
from birthreg.db import display_url, engine_from_settings, make_engine, normalise_url


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
