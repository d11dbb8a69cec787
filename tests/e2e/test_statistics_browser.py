"""The statistics page in real Chromium: a registrar reads the figures by facility, switches to
days and sees the SVG chart, downloads the CSV; on a phone nothing scrolls sideways."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from layout import assert_rows_stacked
from registry.test_statistics import NORTH, SOUTH, arrange
from sqlmodel import Session
from test_clerk_browser import watch

from birthreg.auth import create_staff_user
from birthreg.db import make_engine
from birthreg.models import Role, now

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "a long test password 1"

pytestmark = pytest.mark.browser


def _arrange(live_server: Any) -> None:
    engine = make_engine(live_server.settings.database_url)
    moment = now() - timedelta(days=1)
    try:
        with Session(engine) as session:
            create_staff_user(session, username="registrar", password=PASSWORD, role=Role.REGISTRAR)
            for days in (1, 2, 120):
                arrange(
                    session,
                    facility=NORTH,
                    born_at=moment - timedelta(days=days),
                    received_at=moment,
                    decided_at=moment,
                    certificate_after=timedelta(hours=1),
                )
            arrange(
                session,
                facility=SOUTH,
                born_at=moment - timedelta(days=4),
                received_at=moment,
                decided_at=moment - timedelta(days=2),
                registered=False,
            )
            session.commit()
    finally:
        engine.dispose()


def test_registrar_reads_the_statistics(live_server: Any, chromium: Any) -> None:
    _arrange(live_server)
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport=DESKTOP, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    problems = watch(page)
    try:
        page.goto(f"{live_server}/registry/statistics")
        page.fill("#username", "registrar")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server}/registry/statistics")
        assert page.get_by_test_id("total-within").inner_text() == "2"
        assert page.get_by_test_id("total-late").inner_text() == "1"
        assert page.get_by_test_id("total-rejected").inner_text() == "1"
        rows = page.get_by_test_id("statistics-row")
        assert rows.count() == 2
        assert page.locator("svg.facility-bar rect").count() == 3  # within, late; rejected
        wrap = page.locator(".table-wrap")
        assert wrap.evaluate("element => element.scrollWidth <= element.clientWidth")
        page.screenshot(path=str(ARTIFACTS / "statistics-facility.png"), full_page=True)

        page.select_option("#group", "day")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**group=day**")
        chart = page.get_by_test_id("chart")
        assert chart.locator("svg[role=img]").count() == 1
        assert chart.locator("rect").count() == 3  # one day: within, late; another: rejected
        box = chart.locator("svg").bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 100
        assert page.get_by_test_id("statistics-row").count() == 30
        page.screenshot(path=str(ARTIFACTS / "statistics-day.png"), full_page=True)

        with page.expect_download() as download:
            page.get_by_test_id("csv-link").click()
        path = download.value.path()
        assert path is not None
        lines = Path(path).read_text().splitlines()
        assert lines[0].startswith("key,facility_name,registered,within_deadline,late,rejected")
        assert lines[-1].startswith("total,,3,2,1,1,")
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
        for group in ("facility", "day"):
            response = page.goto(f"{live_server}/registry/statistics?group={group}")
            assert response is not None and response.status == 200
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert_rows_stacked(page, "[data-testid=statistics]")
            page.screenshot(path=str(ARTIFACTS / f"statistics-{group}-390x844.png"), full_page=True)
        box = page.get_by_test_id("chart").locator("svg").bounding_box()
        assert box is not None and 250 < box["width"] <= PHONE["width"]
        assert not problems, problems
    finally:
        phone.close()
