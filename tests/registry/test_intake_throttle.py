"""Anonymous intake: refused dossiers are limited per address (each refusal is audited);
accepted ones are not."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from birthreg.config import Settings
from birthreg.models import AuditEntry, LoginThrottle
from birthreg.registry.api import INTAKE_REFUSALS
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(service_settings: Settings) -> Any:
    return f.app_with_backdated_ca(service_settings)


def audit_rows(db: Session) -> int:
    return db.exec(select(func.count()).select_from(AuditEntry)).one()


def garbage(number: int) -> dict[str, Any]:
    """A dossier-shaped body that every check refuses (each one different)."""
    return {
        "medical_record": {"document": {"id": f"garbage-{number}"}, "signature": {}},
        "application": {"document": {}, "signatures": []},
    }


def test_refused_dossiers_are_limited_per_address(
    app: Any, client: TestClient, db: Session
) -> None:
    before = audit_rows(db)
    answers = [client.post(SUBMISSIONS, json=garbage(n)) for n in range(INTAKE_REFUSALS.free)]
    assert {answer.status_code for answer in answers} == {422}
    assert audit_rows(db) == before + INTAKE_REFUSALS.free  # each refusal audited

    for number in range(INTAKE_REFUSALS.free, INTAKE_REFUSALS.free + 50):
        waiting = client.post(SUBMISSIONS, json=garbage(number))
        assert waiting.status_code == 429
        assert waiting.json()["error"] == "too_many_requests"
        assert 1 <= int(waiting.headers["retry-after"]) <= 60
    # Fifty more garbage dossiers wrote nothing.
    assert audit_rows(db) == before + INTAKE_REFUSALS.free
    # Malformed bodies and oversized ones count too, and wait the same.
    assert client.post(SUBMISSIONS, content=b"not json", headers=JSON).status_code == 429
    # Another address is not held up.
    other = TestClient(app, base_url="http://testserver", client=("198.51.100.20", 40000))
    assert other.post(SUBMISSIONS, json=garbage(999)).status_code == 422


def test_malformed_dossiers_count(app: Any, client: TestClient) -> None:
    for _ in range(INTAKE_REFUSALS.free):
        assert client.post(SUBMISSIONS, content=b"{not json", headers=JSON).status_code == 400
    assert client.post(SUBMISSIONS, content=b"{not json", headers=JSON).status_code == 429


def test_accepted_dossiers_are_not_limited(app: Any, client: TestClient, db: Session) -> None:
    mother = f.issue_person(app, f.person(100))
    dossier = f.good_dossier(app, mother)
    statuses = [client.post(SUBMISSIONS, json=dossier).status_code for _ in range(30)]
    assert statuses == [201] + [200] * 29
    assert db.exec(select(LoginThrottle)).all() == []
