"""A late registration in real Chromium: the parent's reason on the dossier, a registrar's
approval, then the registration; and the dossier on a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ci_guard import HTTP_TIMEOUT
from fastapi.testclient import TestClient
from registry import factories as f
from registry.test_decisions import REASON, late_dossier
from sqlmodel import Session
from test_clerk_browser import watch

from birthreg.auth import create_staff_user
from birthreg.db import make_engine
from birthreg.main import create_app
from birthreg.models import Role

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a long test password 1"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(live_server: Any) -> Iterator[Any]:
    """An app over the live server's data dir and database, for the factories."""
    app = create_app(live_server.settings)
    with TestClient(app):
        yield app


def test_a_registrar_approves_a_late_registration(
    live_server: Any, live_app: Any, chromium: Any
) -> None:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            create_staff_user(session, username="senior", password=PASSWORD, role=Role.REGISTRAR)
            session.commit()
    finally:
        engine.dispose()
    mother = f.issue_person(live_app, f.person(100))
    dossier = late_dossier(live_app, mother, days=120, late_reason=REASON)
    response = httpx.post(f"{live_server}/api/v1/registry/submissions", json=dossier,
                          timeout=HTTP_TIMEOUT)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "late"
    submission_id = response.json()["id"]
    ARTIFACTS.mkdir(exist_ok=True)

    context = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    problems = watch(page)
    try:
        page.goto(f"{live_server}/registry?status=late")
        page.fill("#username", "senior")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server}/registry?status=late")
        rows = page.get_by_test_id("queue-row")
        assert rows.count() == 1
        assert "Late, awaiting approval" in rows.first.inner_text()
        rows.first.get_by_role("link", name="Open").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{submission_id}")
        late = page.get_by_test_id("late")
        assert page.get_by_test_id("late-reason").inner_text() == REASON
        assert "Received 120 days after the birth; the deadline is 92 days." in late.inner_text()
        assert page.get_by_test_id("register-form").count() == 0
        page.screenshot(path=str(ARTIFACTS / "registrar-late.png"), full_page=True)

        late.get_by_role("button", name="Approve the late registration").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{submission_id}?flash=late_approved")
        assert "Approved by senior" in page.get_by_test_id("late-approved").inner_text()
        page.check("#confirm")
        page.get_by_role("button", name="Register").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{submission_id}?flash=registered")
        assert page.get_by_test_id("status").inner_text() == "Registered"
        history = page.get_by_test_id("history-entry")
        actions = [history.nth(i).get_attribute("data-action") for i in range(history.count())]
        assert actions[:2] == ["submission.received", "submission.late_approved"]
        page.screenshot(path=str(ARTIFACTS / "registrar-late-registered.png"), full_page=True)
        state = context.storage_state()
        assert not problems, problems
    finally:
        context.close()

    phone = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, storage_state=state
    )
    page = phone.new_page()
    problems = watch(page)
    try:
        response = page.goto(f"{live_server}/registry/submissions/{submission_id}")
        assert response is not None and response.status == 200
        assert page.get_by_test_id("late-reason").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "registrar-late-390x844.png"), full_page=True)
        assert not problems, problems
    finally:
        phone.close()
