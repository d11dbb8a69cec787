"""Intake under hostile input: what a web page or a hostile signer can send, refused with a 4xx
and a code, nothing stored and nothing audited beyond the refusal."""

from __future__ import annotations

from typing import Any

import pytest
from jws_reheader import reheader
from sqlmodel import Session, func, select

from birthreg.config import Settings
from birthreg.models import AuditEntry, Submission
from birthreg.registry.client import encode_dossier
from registry import factories as f

SUBMISSIONS = "/api/v1/registry/submissions"


@pytest.fixture
def app(service_settings: Settings) -> Any:
    return f.app_with_backdated_ca(service_settings)


@pytest.fixture
def mother(app: Any, client: Any) -> f.Signer:
    return f.issue_person(app, f.person(300))


def _rows(db: Session) -> tuple[int, int]:
    db.expire_all()
    return (
        db.exec(select(func.count()).select_from(Submission)).one(),
        db.exec(select(func.count()).select_from(AuditEntry)).one(),
    )


@pytest.mark.parametrize(
    "content_type",
    [
        # The three types a page elsewhere can send without a CORS preflight, and none at all.
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
        "application/jsonp",
    ],
)
def test_a_dossier_not_sent_as_json_is_415(
    app: Any, client: Any, db: Session, mother: f.Signer, content_type: str | None
) -> None:
    body = encode_dossier(f.good_dossier(app, mother))
    headers = {} if content_type is None else {"Content-Type": content_type}
    before = _rows(db)
    response = client.post(SUBMISSIONS, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"] == "unsupported_media_type"
    assert _rows(db) == before
    # The very same bytes as application/json (with a charset) are received.
    sent = client.post(
        SUBMISSIONS, content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert sent.status_code == 201, sent.text


@pytest.mark.parametrize(
    "sig_t", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0000-01-01T00:00:00Z"]
)
def test_a_sigt_at_the_calendars_edge_is_refused(
    app: Any, client: Any, db: Session, mother: f.Signer, sig_t: str
) -> None:
    dossier = f.good_dossier(app, mother)
    application = dossier["application"]
    signature = application["signatures"][0]
    signature["value"] = reheader(
        signature["value"], mother.key, application["document"], sigT=sig_t
    )
    before = _rows(db)
    response = client.post(SUBMISSIONS, json=dossier)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "dossier_refused"
    [report] = [d for d in body["report"]["documents"] if d["kind"] == "application"]
    failed = {c["name"] for c in report["signatures"][0]["checks"] if not c["passed"]}
    assert "jws.sigT" in failed
    assert _rows(db)[0] == before[0]
