"""Where the application stands: the timeline and the next step on the parent's own page (and
the application's), in her language, from drafting to registration or rejection."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from birthreg.i18n import use_language
from birthreg.models import ParentApplication
from birthreg.parents.status import (
    REVIEW_WORKING_DAYS,
    RegistryView,
    add_working_days,
    timeline,
)
from birthreg.parents.views import ApplicationView

from .helpers import Phone, clerk_headers, draft, sign_application

FRIDAY_EVENING = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 22:00 in Almaty, a Friday


def _view(**changes: Any) -> ApplicationView:
    base = ApplicationView(
        id="5f0c1d1e-0000-4000-8000-000000000001", birth_id="b", state="draft", previous_id=None,
        document={}, canonical=b"{}", fingerprint="0" * 64, joint=False, mother_signed=False,
        father_signed=False, father_joined=False, submission_id=None, receipt=None,
        submission_error=None, submitted_at=None, created_at=FRIDAY_EVENING,
        invitation_url=None, signer_revoked=False,
    )
    return replace(base, **changes)


def _states(steps: Any) -> dict[str, str]:
    return {step.key: step.state for step in steps}


def test_working_days_skip_the_weekend_in_almaty() -> None:
    assert add_working_days(FRIDAY_EVENING, 1) == date(2026, 12, 7)  # Monday
    assert add_working_days(FRIDAY_EVENING, 2) == date(2026, 12, 8)
    # 20:00 UTC on Sunday is already Monday in Almaty.
    assert add_working_days(datetime(2026, 12, 6, 20, 0, tzinfo=UTC), 1) == date(2026, 12, 8)


def test_the_timeline_follows_the_application_and_the_registry() -> None:
    with use_language("en"):
        drafted = timeline(_view(), None, is_mother=True)
        assert _states(drafted.steps) == {
            "filled": "done", "mother_signed": "current", "received": "upcoming",
            "in_review": "upcoming", "registered": "upcoming",
        }
        assert "sign it with your key" in drafted.next_step and drafted.expected_by is None

        waiting = timeline(
            _view(state="awaiting_father", joint=True, mother_signed=True), None, is_mother=True
        )
        assert _states(waiting.steps)["father_signed"] == "current"

        sent = _view(state="submitted", mother_signed=True, submission_id="s",
                     submitted_at=FRIDAY_EVENING)
        received = RegistryView(True, "received", tracking_number="K7P-2QX-9",
                                received_at=FRIDAY_EVENING)
        checking = timeline(sent, received, is_mother=True)
        assert _states(checking.steps)["received"] == "done"
        assert _states(checking.steps)["in_review"] == "current"
        assert checking.steps[2].detail == "K7P-2QX-9"
        assert checking.expected_by == add_working_days(FRIDAY_EVENING, REVIEW_WORKING_DAYS)

        late = timeline(sent, replace(received, status="late"), is_mother=True)
        assert _states(late.steps)["late"] == "current" and late.expected_by is not None

        rejected = timeline(
            sent, replace(received, status="rejected", rejection_reason="a typo"), is_mother=True
        )
        assert _states(rejected.steps)["rejected"] == "refused"
        assert "registered" not in _states(rejected.steps)
        assert rejected.steps[-1].detail == "a typo" and "sign again" in rejected.next_step

        registered = timeline(sent, replace(received, status="registered"), is_mother=True)
        assert set(_states(registered.steps).values()) == {"done"}

        unreachable = timeline(sent, RegistryView(False), is_mother=True)
        assert "cannot be reached" in unreachable.next_step


def _home(mother: Phone) -> str:
    response = mother.client.get("/parents", headers={"Accept-Language": "kk"})
    assert response.status_code == 200
    return response.text


def _step(html: str, key: str) -> str | None:
    found = re.search(rf'data-testid="step-{key}" data-state="([a-z]+)"', html)
    return found.group(1) if found else None


def test_her_page_says_where_the_application_is_in_her_language(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    application_id = draft(mother)
    home = _home(mother)
    assert _step(home, "mother_signed") == "current"
    assert "Әр жолды тексеріп, кілтіңізбен қол қойыңыз." in home

    assert sign_application(mother, application_id).json()["submitted"] is True
    row = db.get(ParentApplication, application_id)
    assert row is not None and row.submission_id
    home = _home(mother)
    assert _step(home, "received") == "done" and _step(home, "in_review") == "current"
    assert 'data-testid="expected-by"' in home and "Күтілетін мерзім" in home
    tracking = re.search(r'class="tracking-number">([^<]+)<', home)
    assert tracking is not None and "-" in tracking.group(1)

    clerk = clerk_headers(app)
    rejected = client.post(
        f"/api/v1/registry/submissions/{row.submission_id}/reject",
        json={"reason": "Баланың аты қате жазылған"}, headers=clerk,
    )
    assert rejected.status_code == 200, rejected.text
    home = _home(mother)
    assert _step(home, "rejected") == "refused" and "Баланың аты қате жазылған" in home
    assert f'href="/parents/application?previous={application_id}"' in home
    assert 'data-testid="expected-by"' not in home


def test_once_registered_her_page_gives_the_record_and_the_certificate(
    app: Any, client: TestClient, db: Session, mother: Phone
) -> None:
    application_id = draft(mother)
    assert sign_application(mother, application_id).json()["submitted"] is True
    row = db.get(ParentApplication, application_id)
    assert row is not None and row.submission_id
    registered = client.post(
        f"/api/v1/registry/submissions/{row.submission_id}/register",
        headers=clerk_headers(app),
    ).json()
    home = _home(mother)
    assert _step(home, "registered") == "done"
    assert f'data-testid="act-record-number">{registered["act_record_number"]}<' in home
    assert f'data-testid="child-iin">{registered["child_iin"]}<' in home
    assert f"/parents/applications/{application_id}/certificate.pdf" in home
    page_link = re.search(r'href="(/registry/certificates/[^"]+/print)"', home)
    assert page_link is not None
    assert mother.client.get(page_link.group(1)).status_code == 200
