"""A pytest plugin (loaded with `-p servicekit`): the service, initialised, on SQLite or PostgreSQL.

Fixtures:
    service_settings  Settings for a fresh data dir and a fresh database (each test its own)
    app               create_app() over those settings, after `birthreg init` ran
    client            a TestClient on the app (lifespan on)
    db                a Session on the app's database (for arranging and asserting)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from birthreg.config import Settings
from birthreg.db import make_engine


def reset_postgres(url: str) -> None:
    """An empty public schema: every PostgreSQL test starts from nothing, like SQLite ones."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture
def service_settings(database_url: str, tmp_path: Path) -> Settings:
    if not database_url.startswith("sqlite"):
        reset_postgres(database_url)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        base_url="http://testserver",
        env="development",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def app(service_settings: Settings) -> Any:
    from birthreg.bootstrap import initialise
    from birthreg.main import create_app

    initialise(service_settings)
    return create_app(service_settings)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def db(app: Any, service_settings: Settings) -> Iterator[Session]:
    """A session in autocommit mode: each statement sees the latest data and holds no lock, so
    a test can read between requests without blocking the app (on SQLite, its writers)."""
    engine = make_engine(service_settings.database_url, autocommit=True)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def cli_env(
    service_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment for `birthreg` commands on the service's data dir and database: no other
    BIRTHREG_ variable, and no .env from the project (the working directory is a temp dir)."""
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return {
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
        "BIRTHREG_ENV": "development",
    }
