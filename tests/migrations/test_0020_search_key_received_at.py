"""Migration 0020: the search keys get their submissions' times (filled from the submissions)
and the index a search reads alone; and back."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from registry import factories as f

from birthreg.bootstrap import initialise
from birthreg.config import Settings
from birthreg.db import make_engine
from birthreg.main import create_app
from migrations.test_0011_scale_indexes import _indexes, _migrate


def test_0020_fills_the_keys_times_and_back(service_settings: Settings) -> None:
    initialise(service_settings)
    app = create_app(service_settings)
    with TestClient(app) as client:
        mother = f.issue_person(app, f.person(4100))
        answer = client.post("/api/v1/registry/submissions", json=f.good_dossier(app, mother))
        assert answer.status_code == 201, answer.text
    engine = make_engine(service_settings.database_url)
    try:
        _migrate(engine, "0019", down=True)
        assert "ix_registry_search_key_key" in _indexes(engine, "registry_search_key")
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("registry_search_key")}
        assert "received_at" not in columns
        _migrate(engine, "head")
        assert "ix_registry_search_key_found" in _indexes(engine, "registry_search_key")
        assert "ix_registry_search_key_key" not in _indexes(engine, "registry_search_key")
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT k.received_at = s.received_at FROM registry_search_key k "
                "JOIN registry_submission s ON s.id = k.submission_id"
            )).scalars().all()
        assert rows and all(rows)
    finally:
        engine.dispose()
