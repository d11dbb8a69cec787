"""The staff page of messages (/notify/outbox): who may open it, the events with their delivery,
the development sink's messages as the parents would read them, the forgiving tracking-number
filter. And the tracking number on the mother's own status page."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi.testclient import TestClient
from parents.helpers import (
    clerk_headers,
    draft,
    new_birth,
    page,
    sign_application,
    signed_in_mother,
    ward_headers,
)
from registry import factories as f
from sqlmodel import Session, select

from birthreg.config import Settings
from birthreg.models import ParentApplication, Role, Submission
from birthreg.notify.sender import send_pending
from birthreg.notify.tracking import format_tracking_number

OUTBOX = "/notify/outbox"
HTML = {"Accept": "text/html"}


def submit(app: Any, client: TestClient, serial: int) -> str:
    response = client.post(
        "/api/v1/registry/submissions",
        json=f.good_dossier(app, f.issue_person(app, f.person(serial))),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_clerks_and_administrators_only(app: Any, client: TestClient) -> None:
    assert client.get(OUTBOX, headers=HTML, follow_redirects=False).status_code == 303
    for role, status in ((Role.CLERK, 200), (Role.ADMIN, 200), (Role.WARD, 403)):
        response = client.get(OUTBOX, headers={**f.staff_headers(app, role), **HTML})
        assert response.status_code == status, role


def test_the_page_lists_events_and_the_sinks_messages(
    app: Any, client: TestClient, db: Session, service_settings: Settings
) -> None:
    first, second = submit(app, client, 10), submit(app, client, 20)
    clerk = {**f.staff_headers(app), **HTML}
    before = client.get(OUTBOX, headers=clerk).text
    assert before.count('data-testid="event-row"') == 2
    assert before.count('data-state="pending"') == 2
    assert 'data-testid="sink-message"' not in before

    assert send_pending(service_settings).sent == 2
    listing = client.get(OUTBOX, headers=clerk).text
    assert listing.count('data-state="sent"') == 2
    assert listing.count('data-testid="sink-message"') == 4  # e-mail and SMS of each
    assert "mother@example.kz" in listing and "+77012345678" in listing
    numbers = {
        s: format_tracking_number(db.get(Submission, s).tracking_number)  # type: ignore[union-attr]
        for s in (first, second)
    }
    for number in numbers.values():
        assert number in listing

    # Typed as a person would: lower case, spaces instead of dashes.
    typed = numbers[first].lower().replace("-", " ")
    only_first = client.get(OUTBOX, params={"tracking": typed}, headers=clerk).text
    assert only_first.count('data-testid="event-row"') == 1
    assert only_first.count('data-testid="sink-message"') == 2
    assert numbers[first] in only_first and numbers[second] not in only_first
    texts = [html.unescape(t) for t in only_first.split('data-testid="sink-text">')[1:]]
    assert any("Сәлеметсіз бе!" in text for text in texts)

    typo = numbers[first][:-1] + ("3" if numbers[first][-1] != "3" else "4")
    refused = client.get(OUTBOX, params={"tracking": typo}, headers=clerk)
    assert refused.status_code == 400
    assert 'data-testid="error"' in refused.text and 'aria-invalid="true"' in refused.text


def test_the_page_says_where_messages_go(app: Any, client: TestClient) -> None:
    headers = {**f.staff_headers(app), **HTML, "Accept-Language": "en"}
    page_text = client.get(OUTBOX, headers=headers).text
    for channel in ("email", "sms"):
        assert f'<dd data-channel="{channel}">the development sink below' in page_text


def test_the_mothers_page_shows_the_tracking_number(
    app: Any, client: TestClient, db: Session
) -> None:
    ward = ward_headers(app)
    mother = signed_in_mother(app, client, ward, new_birth(client, ward))
    application_id = draft(mother)
    assert sign_application(mother, application_id).json()["submitted"] is True
    db.expire_all()
    stored = db.exec(
        select(ParentApplication).where(ParentApplication.id == application_id)
    ).one()
    submission = db.get(Submission, stored.submission_id)
    assert submission is not None
    number = format_tracking_number(submission.tracking_number)
    assert json.loads(stored.receipt or "{}")["tracking_number"] == number
    shown = page(mother, application_id)
    assert f'data-testid="tracking-number">{number}<' in shown
    # The clerk's view of the same submission shows the same number.
    queue = client.get("/api/v1/registry/submissions", headers=clerk_headers(app)).json()
    assert [item["tracking_number"] for item in queue["items"]] == [number]
