"""A record's life in real Chromium: the clerk's search (desktop and phone), and a registrar
approving a clerk's correction, after which the old certificate says it is superseded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ci_guard import HTTP_TIMEOUT
from fastapi.testclient import TestClient
from layout import assert_rows_stacked
from registry import factories as f
from sqlmodel import Session

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
    """An app over the live server's data dir and database, for the factories (its CA, seals)."""
    app = create_app(live_server.settings)
    with TestClient(app):
        yield app


def add_staff(live_server: Any, username: str, role: Role) -> None:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            create_staff_user(session, username=username, password=PASSWORD, role=role)
            session.commit()
    finally:
        engine.dispose()


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}")
        if message.type in ("error", "warning")
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: problems.append(f"{response.status}: {response.url}")
        if response.status >= 400
        else None,
    )
    return problems


def log_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}/registry")


def submit(live_server: Any, dossier: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{live_server}/api/v1/registry/submissions", json=dossier,
                          timeout=HTTP_TIMEOUT)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_clerk_searches_by_surname_and_tracking_number(
    live_server: Any, live_app: Any, chromium: Any
) -> None:
    add_staff(live_server, "clerk", Role.CLERK)
    mother = f.issue_person(live_app, f.person(700, surname="Семёнова", given_name="Әлия"))
    received = submit(live_server, f.good_dossier(live_app, mother))
    other = submit(live_server, f.good_dossier(live_app, f.issue_person(live_app, f.person(300))))
    ARTIFACTS.mkdir(exist_ok=True)

    context = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    problems = watch(page)
    try:
        log_in(page, live_server, "clerk")
        rows = page.get_by_test_id("queue-row")
        assert rows.count() == 2
        assert "Семёнова Әлия" in page.get_by_test_id("mother-name").first.inner_text()
        page.get_by_test_id("search-box").fill("семен")
        page.get_by_role("button", name="Find").click()
        page.wait_for_url("**/registry/search?q=*")
        found = page.get_by_test_id("search-row")
        assert found.count() == 1
        assert found.first.get_attribute("data-id") == received["id"]
        page.screenshot(path=str(ARTIFACTS / "clerk-search.png"), full_page=True)

        page.get_by_test_id("search-box").fill(received["receipt"]["tracking_number"].lower())
        page.get_by_role("button", name="Find").click()
        page.wait_for_load_state()
        assert page.get_by_test_id("search-row").count() == 1
        found.first.get_by_role("link", name="Open").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{received['id']}")
        assert other["id"] not in page.url
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
        page.goto(f"{live_server}/registry/search?q=%D0%A1%D0%95%D0%9C", wait_until="networkidle")
        assert page.get_by_test_id("search-row").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert_rows_stacked(page, "[data-testid=search-results]")
        page.screenshot(path=str(ARTIFACTS / "clerk-search-390x844.png"), full_page=True)
        assert not problems, problems
    finally:
        phone.close()


def test_registrar_approves_a_clerks_correction(
    live_server: Any, live_app: Any, chromium: Any
) -> None:
    add_staff(live_server, "registrar", Role.REGISTRAR)
    clerk = f.staff_headers(live_app, Role.CLERK)
    mother = f.issue_person(live_app, f.person(100))
    submission_id = submit(live_server, f.good_dossier(live_app, mother))["id"]
    api = f"{live_server}/api/v1/registry"
    registered = httpx.post(f"{api}/submissions/{submission_id}/register", headers=clerk,
                            timeout=HTTP_TIMEOUT).json()
    old = httpx.get(f"{api}/certificates/{registered['certificate_id']}",
                    timeout=HTTP_TIMEOUT).json()
    asked = httpx.post(
        f"{api}/certificates/{old['id']}/corrections",
        json={"changes": {"child.given_name": "Аяжан"}, "reason": "Misspelt on the application."},
        headers=clerk, timeout=HTTP_TIMEOUT,
    )
    assert asked.status_code == 201, asked.text
    ARTIFACTS.mkdir(exist_ok=True)

    for viewport, name in ((DESKTOP, "1366"), (PHONE, "390x844")):
        context = chromium.new_context(viewport=viewport, locale="en-GB")
        page = context.new_page()
        problems = watch(page)
        try:
            log_in(page, live_server, "registrar")
            page.goto(f"{live_server}/registry/submissions/{submission_id}")
            correction = page.get_by_test_id("correction")
            assert correction.get_attribute("data-status") in ("pending", "approved")
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            shot = ARTIFACTS / f"registrar-correction-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            if correction.get_attribute("data-status") == "pending":
                approve = "Approve and issue the corrected certificate"
                page.get_by_role("button", name=approve).click()
                page.wait_for_url("**flash=correction_approved")
            versions = page.get_by_test_id("certificate-version")
            assert versions.count() == 2
            assert versions.first.get_attribute("data-status") == "superseded"
            assert "Аяжан" in page.get_by_test_id("changed-fields").inner_text()
            assert not problems, problems
        finally:
            context.close()

    # The old certificate's QR on the public check page: superseded, naming the new number.
    new_number = old["certificate_number"] + "-2"
    context = chromium.new_context(viewport=PHONE, locale="en-GB")
    page = context.new_page()
    try:
        fragment = old["qr"].split("#", 1)[1]
        page.goto(f"{live_server}/verify#{fragment}")
        note = page.get_by_test_id("status-note")
        note.wait_for(state="visible")
        page.wait_for_function(
            "document.querySelector('[data-testid=status-note]').dataset.status !== undefined"
        )
        assert note.get_attribute("data-status") == "superseded"
        assert new_number in note.inner_text()
        page.screenshot(path=str(ARTIFACTS / "verify-superseded.png"), full_page=True)
    finally:
        context.close()
