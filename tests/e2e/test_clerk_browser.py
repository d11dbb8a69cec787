"""The clerk in real Chromium: log in, the queue, a dossier's report, register, the certificate's
print view, a tampered dossier's failing report on the check page, and the queue on a phone."""

from __future__ import annotations

import copy
import json
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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a long test password 1"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(live_server: Any) -> Iterator[Any]:
    """An app over the live server's data dir and database, for the factories (its CA, seals)."""
    app = create_app(live_server.settings)
    with TestClient(app):  # the lifespan makes the engine
        yield app


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    def console(message: Any) -> None:
        # The certificate's print page (templates/certificate) names no icon, so Chromium asks
        # for /favicon.ico, which the service does not serve: not a fault of the clerk's pages.
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text} {message.location}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda response: problems.append(f"{response.status}: {response.url}")
        if response.status >= 400
        else None,
    )
    return problems


def test_clerk_registers_a_dossier_and_reads_a_failing_report(
    live_server: Any, live_app: Any, chromium: Any
) -> None:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            create_staff_user(session, username="clerk", password=PASSWORD, role=Role.CLERK)
            session.commit()
    finally:
        engine.dispose()
    mother = f.issue_person(live_app, f.person(100))
    dossiers = [f.good_dossier(live_app, mother) for _ in range(2)]  # likely duplicates
    ids = []
    for dossier in dossiers:
        response = httpx.post(f"{live_server}/api/v1/registry/submissions", json=dossier,
                              timeout=HTTP_TIMEOUT)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    ARTIFACTS.mkdir(exist_ok=True)

    context = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    problems = watch(page)
    try:
        # Logging in: the queue asks for it and comes back after.
        page.goto(f"{live_server}/registry")
        assert "/login" in page.url
        page.fill("#username", "clerk")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server}/registry")

        rows = page.get_by_test_id("queue-row")
        assert rows.count() == 2
        assert [rows.nth(i).get_attribute("data-id") for i in range(2)] == ids
        assert page.get_by_test_id("duplicate-marker").count() == 2
        page.screenshot(path=str(ARTIFACTS / "clerk-queue.png"), full_page=True)

        # The dossier: documents, the report in plain words, the duplicate side by side.
        rows.first.get_by_role("link", name="Open").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{ids[0]}")
        assert page.get_by_test_id("status").inner_text() == "In review"
        report = page.get_by_test_id("report")
        assert report.get_attribute("data-passed") == "yes"
        assert page.get_by_test_id("signature-report").count() == 2
        assert "Every signature is valid" in report.inner_text()
        assert "Facility seal" in report.inner_text()
        assert mother.subject is not None and mother.subject.iin in report.inner_text()
        assert page.get_by_test_id("duplicate").get_attribute("data-id") == ids[1]
        page.screenshot(path=str(ARTIFACTS / "clerk-dossier.png"), full_page=True)

        # The likely duplicate is decided first: another birth of the same mother.
        decision = page.get_by_test_id("duplicate-form")
        decision.get_by_label("No: another birth").check()
        decision.get_by_label("Why").fill("Two medical records: twins recorded apart.")
        decision.get_by_role("button", name="Record the decision").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{ids[0]}?flash=duplicate_decided")
        assert page.get_by_test_id("duplicate-decision").get_attribute("data-decision") == (
            "not_duplicate"
        )

        # Register: the box must be ticked first (the browser says so, nothing is sent).
        page.get_by_role("button", name="Register").click()
        assert page.url.endswith(f"{ids[0]}?flash=duplicate_decided")
        assert page.get_by_test_id("registration").count() == 0
        page.check("#confirm")
        page.get_by_role("button", name="Register").click()
        page.wait_for_url(f"{live_server}/registry/submissions/{ids[0]}?flash=registered")
        assert page.get_by_test_id("act-record-number").inner_text().startswith("1 ")
        child_iin = page.get_by_test_id("child-iin").inner_text()
        assert len(child_iin) == 12 and child_iin.isdigit()
        assert page.get_by_test_id("status").inner_text() == "Registered"
        page.screenshot(path=str(ARTIFACTS / "clerk-registered.png"), full_page=True)

        # The certificate's print view.
        page.get_by_test_id("print-link").click()
        page.wait_for_load_state("networkidle")
        assert "/registry/certificates/" in page.url and page.url.endswith("/print")
        assert "Әбілқасымова" in page.content()
        page.screenshot(path=str(ARTIFACTS / "clerk-certificate-print.png"), full_page=True)

        # A tampered dossier on the check page: the failing report, and why.
        tampered = copy.deepcopy(dossiers[0])
        tampered["medical_record"]["document"]["child"]["weight_g"] = 4100
        page.goto(f"{live_server}/registry/check")
        page.fill("#dossier", json.dumps(tampered, ensure_ascii=False, indent=1))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
        report = page.get_by_test_id("report")
        assert report.get_attribute("data-passed") == "no"
        assert "The document was changed after signing" in report.inner_text()
        failed = page.locator('[data-testid="check"][data-passed="no"]')
        assert failed.count() >= 2  # the seal's digest, and the application's binding
        assert "✗" in failed.first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "clerk-check-tampered.png"), full_page=True)
        state = context.storage_state()
        assert not problems, problems
    finally:
        context.close()

    # The queue on a phone: readable without sideways scrolling of the page.
    phone = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, storage_state=state
    )
    page = phone.new_page()
    problems = watch(page)
    try:
        response = page.goto(f"{live_server}/registry", wait_until="networkidle")
        assert response is not None and response.status == 200
        assert page.get_by_test_id("queue-row").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert_rows_stacked(page, "[data-testid=queue]")
        page.screenshot(path=str(ARTIFACTS / "clerk-queue-390x844.png"), full_page=True)
        page.goto(f"{live_server}/registry/submissions/{ids[1]}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "clerk-dossier-390x844.png"), full_page=True)
        assert not problems, problems
    finally:
        phone.close()
