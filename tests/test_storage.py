"""A full database answers JSON 503 `storage_unavailable` (nothing kept), and `/readyz` notices;
`/healthz` stays the liveness check.

The full disk is SQLite's own: `PRAGMA max_page_count` at the database's current size makes its
next growth fail with SQLITE_FULL, "database or disk is full", the very error a full disk gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, func, select
from ward.helpers import birth_body, staff

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.main import create_app
from birthreg.models import Birth


def _births(db: Session) -> int:
    db.expire_all()
    return db.exec(select(func.count()).select_from(Birth)).one()


def _no_growth(dbapi_connection: Any, _record: Any) -> None:
    # Below the current size SQLite keeps the current size: the file may not grow any more.
    dbapi_connection.execute("PRAGMA max_page_count = 1")


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Any:
    settings = Settings(data_dir=tmp_path / "data", env="development", _env_file=None)  # type: ignore[call-arg]
    initialise(settings)
    return create_app(settings)


def test_a_full_database_is_503_and_readyz_notices(sqlite_app: Any) -> None:
    app = sqlite_app
    client = TestClient(app)
    client.__enter__()
    db = Session(make_engine(app.state.services.settings.database_url, autocommit=True))
    _, headers = staff(app)
    assert client.get("/readyz").json()["status"] == "ok"
    engine = app.state.services.engine
    event.listen(engine, "connect", _no_growth)
    engine.dispose()
    before = _births(db)
    try:
        # Records fill the pages the file already has free (migrations leave some); then it
        # is full.
        answers = []
        while len(answers) < 300 and all(a.status_code == 201 for a in answers):
            answers.append(
                client.post("/api/v1/ward/births", json=birth_body(), headers=headers)
            )
    finally:
        event.remove(engine, "connect", _no_growth)
        engine.dispose()
    # Some records may still fit into pages the file already has; then it is full.
    refused = [answer for answer in answers if answer.status_code != 201]
    assert refused, [answer.status_code for answer in answers]
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"] == "storage_unavailable"
        assert int(answer.headers["retry-after"]) > 0
    assert _births(db) == before + len(answers) - len(refused)

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["recent_failures"] != "ok"
    assert client.get("/healthz").status_code == 200  # alive: it answers, and the DB is there
    # Room again: the next birth is kept.
    again = client.post("/api/v1/ward/births", json=birth_body(), headers=headers)
    assert again.status_code == 201, again.text
    db.close()
    client.__exit__(None, None, None)


def test_readyz_notices_a_data_dir_without_room(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        env="development",
        min_free_bytes=2**62,  # more than any disk here has free
        _env_file=None,  # type: ignore[call-arg]
    )
    initialise(settings)
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["data_dir"].startswith("low on space")
        assert answer.json()["database"] == "ok"
        assert client.get("/healthz").status_code == 200


def test_readyz_notices_a_data_dir_that_takes_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", env="development", _env_file=None)  # type: ignore[call-arg]
    initialise(settings)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        # The probe's own name taken by a directory with content: the write cannot happen.
        blocker = settings.data_dir / ".readyz-probe"
        blocker.mkdir()
        (blocker / "x").write_text("x")
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["data_dir"].startswith("unwritable")
