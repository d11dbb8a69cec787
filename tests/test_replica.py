"""BIRTHREG_DATABASE_REPLICA_URL: the queue, a submission's public status and public
verification read from the replica; intake and registration write to the primary.

The replica here is a copy of the primary's SQLite file taken at one moment (what a lagging
replica looks like): what the primary received after it is not in the queue until the copy is
taken again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from registry import factories

from birthreg.config import Settings
from birthreg.main import create_app


def _receive(app: Any, client: Any, serial: int) -> str:
    mother = factories.issue_person(app, factories.person(serial))
    body = json.dumps(factories.good_dossier(app, mother))
    response = client.post("/api/v1/registry/submissions", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _copy(primary: str, replica: Path) -> None:
    """A consistent copy of the primary (SQLite's online backup)."""
    source = sqlite3.connect(primary.removeprefix("sqlite:///"))
    target = sqlite3.connect(replica)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_reads_come_from_the_replica(app: Any, service_settings: Settings,
                                     tmp_path: Path) -> None:
    replica = tmp_path / "replica.sqlite3"
    with TestClient(app, base_url="http://testserver") as client:
        before = _receive(app, client, 4101)
        _copy(service_settings.database_url, replica)
        after = _receive(app, client, 4201)
    settings = service_settings.model_copy(
        update={"database_replica_url": f"sqlite:///{replica}"}
    )
    served = create_app(settings)
    with TestClient(served, base_url="http://testserver") as client:
        clerk = factories.staff_headers(served)
        queue = client.get("/api/v1/registry/submissions", headers=clerk).json()
        # The replica has the submission copied, not the one the primary received after.
        assert [item["id"] for item in queue["items"]] == [before]
        assert client.get(f"/api/v1/registry/submissions/{before}/status").status_code == 200
        assert client.get(f"/api/v1/registry/submissions/{after}/status").status_code == 404
        # The clerk's own page of a submission reads the primary, which has both.
        assert client.get(f"/api/v1/registry/submissions/{after}", headers=clerk).status_code == 200
        # Writes go to the primary: a new dossier is there, not on the replica.
        newest = _receive(served, client, 4301)
        assert client.get(f"/api/v1/registry/submissions/{newest}/status").status_code == 404
    _copy(service_settings.database_url, replica)
    with TestClient(served, base_url="http://testserver") as client:
        queue = client.get("/api/v1/registry/submissions", headers=clerk).json()
        assert {item["id"] for item in queue["items"]} == {before, after, newest}


def test_without_a_replica_reads_use_the_primary(app: Any, client: Any) -> None:
    assert app.state.services.read_engine is app.state.services.engine
    clerk = factories.staff_headers(app)
    received = _receive(app, client, 4401)
    queue = client.get("/api/v1/registry/submissions", headers=clerk).json()
    assert [item["id"] for item in queue["items"]] == [received]
    assert client.get(f"/api/v1/registry/submissions/{received}/status").status_code == 200
