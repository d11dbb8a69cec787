"""The registry's events reach the outbox in their own transaction: received, rejected (with the
reason), registered (act record, certificate); a rolled-back event leaves no message; the same
event is queued once. The tracking number is on the receipt, the status API and the pages."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from registry import factories as f
from sqlmodel import Session, select

from birthreg.models import (
    EventKind,
    OutboxMessage,
    Registration,
    Submission,
    SubmissionStatus,
    now,
)
from birthreg.notify import outbox
from birthreg.notify.tracking import format_tracking_number, is_valid
from birthreg.registry.registration import register_submission, reject_submission
from birthreg.registry.service import registry_for
from birthreg.services import app_services

SUBMISSIONS = "/api/v1/registry/submissions"


def submit(app: Any, client: TestClient, serial: int) -> dict[str, Any]:
    response = client.post(
        SUBMISSIONS, json=f.good_dossier(app, f.issue_person(app, f.person(serial)))
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def events(db: Session, submission_id: str | None = None) -> list[OutboxMessage]:
    db.expire_all()
    statement = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.kind)
    if submission_id is not None:
        statement = statement.where(OutboxMessage.submission_id == submission_id)
    return list(db.exec(statement).all())


def test_received_rejected_and_registered_are_queued(
    app: Any, client: TestClient, db: Session, clerk: dict[str, str]
) -> None:
    first = submit(app, client, 10)
    [received] = events(db, first["id"])
    assert received.kind == EventKind.RECEIVED and received.state == "pending"
    assert received.event_id == outbox.event_id(EventKind.RECEIVED, first["id"])

    rejected = client.post(
        f"{SUBMISSIONS}/{first['id']}/reject", json={"reason": "Имя ребёнка с ошибкой"},
        headers=clerk,
    )
    assert rejected.status_code == 200, rejected.text
    kinds = [(e.kind, json.loads(e.params)) for e in events(db, first["id"])]
    assert kinds == [("received", {}), ("rejected", {"reason": "Имя ребёнка с ошибкой"})]

    second = submit(app, client, 20)
    registered = client.post(f"{SUBMISSIONS}/{second['id']}/register", headers=clerk)
    assert registered.status_code == 201, registered.text
    result = registered.json()
    last = events(db, second["id"])[-1]
    assert last.kind == EventKind.REGISTERED
    registration = db.exec(
        select(Registration).where(Registration.submission_id == second["id"])
    ).one()
    assert json.loads(last.params) == {
        "act_record_number": result["act_record_number"],
        "year": registration.year,
        "certificate_id": result["certificate_id"],
    }
    # Registering again changes nothing, and tells nobody again.
    again = client.post(f"{SUBMISSIONS}/{second['id']}/register", headers=clerk)
    assert again.status_code in (200, 201)
    assert len(events(db, second["id"])) == 2


def test_an_auto_registered_dossier_queues_both_events(
    service_settings: Any, tmp_path: Any, db: Session
) -> None:
    from birthreg.bootstrap import initialise
    from birthreg.main import create_app

    settings = service_settings.model_copy(update={"registry_auto_register": True})
    initialise(settings)
    app = create_app(settings)
    with TestClient(app) as client:
        body = submit(app, client, 30)
    assert body["status"] == "registered"
    assert [e.kind for e in events(db, body["id"])] == ["received", "registered"]


def test_a_rolled_back_event_leaves_no_message(
    app: Any, client: TestClient, db: Session
) -> None:
    first = submit(app, client, 40)
    second = submit(app, client, 50)
    before = len(events(db))
    registry = registry_for(app_services(app))
    with Session(app.state.services.engine) as session:
        register_submission(
            session, registry, first["id"], actor="system", role="system", staff_id=None
        )
        reject_submission(
            session, second["id"], "reason", actor="system", role="system", staff_id=None
        )
        assert session.exec(select(OutboxMessage)).all()  # queued in this transaction...
        session.rollback()  # ...and gone with it
    assert len(events(db)) == before
    db.expire_all()
    assert {db.get(Submission, s["id"]).status for s in (first, second)} == {  # type: ignore[union-attr]
        SubmissionStatus.RECEIVED.value
    }


def test_the_same_event_is_queued_once(app: Any, client: TestClient, db: Session) -> None:
    body = submit(app, client, 60)
    with Session(app.state.services.engine) as session:
        again = outbox.record(session, EventKind.RECEIVED, body["id"], moment=now())
        session.commit()
    assert again == outbox.event_id(EventKind.RECEIVED, body["id"])
    assert len(events(db, body["id"])) == 1


def test_a_commit_that_queued_rings_the_doorbell_and_a_rollback_does_not(
    app: Any, client: TestClient
) -> None:
    body = submit(app, client, 70)
    with Session(app.state.services.engine) as session:
        rings = outbox.doorbell.rings
        outbox.record(session, EventKind.LATE, body["id"], moment=now())
        session.rollback()
        session.commit()
        assert outbox.doorbell.rings == rings
        outbox.record(session, EventKind.LATE, body["id"], moment=now())
        session.commit()
        assert outbox.doorbell.rings == rings + 1


def test_the_tracking_number_is_on_the_receipt_status_and_clerk_pages(
    app: Any, client: TestClient, db: Session, clerk: dict[str, str]
) -> None:
    body = submit(app, client, 80)
    stored = db.get(Submission, body["id"])
    assert stored is not None and is_valid(stored.tracking_number)
    grouped = format_tracking_number(stored.tracking_number)
    assert body["receipt"]["tracking_number"] == grouped
    status = client.get(f"{SUBMISSIONS}/{body['id']}/status").json()
    assert status["tracking_number"] == grouped
    queue = client.get(SUBMISSIONS, headers=clerk).json()
    assert [item["tracking_number"] for item in queue["items"]] == [grouped]

    html = {**clerk, "Accept": "text/html"}
    page = client.get("/registry", headers=html)
    assert f'data-testid="tracking-number">{grouped}<' in page.text
    dossier = client.get(f"/registry/submissions/{body['id']}", headers=html)
    assert f'data-testid="tracking-number">{grouped}<' in dossier.text
