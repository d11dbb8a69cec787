"""The ward's pages in real Chromium: a midwife logs in at her desk, records a birth and starts
the mother's enrollment; the same pages on a 360 px phone never scroll sideways."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from layout import assert_rows_stacked
from sqlmodel import Session, select

from birthreg.auth import create_staff_user
from birthreg.db import make_engine
from birthreg.models import Facility, Role, now
from birthreg.ward.service import WARD_TIME_ZONE

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
USERNAME = "midwife"
PASSWORD = "a long ward password 1"

pytestmark = pytest.mark.browser


def _add_midwife(live_server: Any) -> None:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            facility_id = session.exec(select(Facility.id)).first()
            create_staff_user(
                session,
                username=USERNAME,
                password=PASSWORD,
                role=Role.WARD,
                display_name="Сейітова Ж. Қ.",
                facility_id=facility_id,
            )
            session.commit()
    finally:
        engine.dispose()


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}")
        if message.type in ("error", "warning")
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def _no_sideways_scroll(page: Any, name: str) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{name}: scrollWidth {widths[0]} > clientWidth {widths[1]}"


def _log_in(page: Any, base_url: str) -> None:
    page.goto(base_url + "/login?next=/ward")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("button.primary[type=submit]")
    page.wait_for_url(base_url + "/ward")


def test_ward_pages_at_the_desk_and_on_a_phone(live_server: Any, chromium: Any) -> None:
    _add_midwife(live_server)
    base = str(live_server)
    ARTIFACTS.mkdir(exist_ok=True)

    desktop = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    page = desktop.new_page()
    problems = _watch(page)
    try:
        _log_in(page, base)
        assert page.locator("h1").inner_text().strip()
        page.click("a.button.primary[href='/ward/births/new']")
        page.wait_for_url(base + "/ward/births/new")

        born = (now() - timedelta(minutes=40)).astimezone(WARD_TIME_ZONE)
        page.fill("#mother_iin", "940315400014")
        page.fill("#mother_surname", "Әбілқасымова")
        page.fill("#mother_given_name", "Гүлнұр")
        page.fill("#mother_patronymic", "Серікқызы")
        page.select_option("#child_sex", "F")
        page.fill("#born_date", born.date().isoformat())
        page.fill("#born_time", born.strftime("%H:%M"))
        page.fill("#child_weight_g", "3400")
        page.fill("#child_length_cm", "51")
        page.screenshot(path=str(ARTIFACTS / "ward-new-birth-1280.png"), full_page=True)
        page.click("form button.primary[type=submit]")
        page.wait_for_url(lambda url: "/ward/births/" in url and "flash=birth_recorded" in url)
        birth_url = page.url.split("?")[0]
        assert page.locator(".flash.ok").is_visible()
        assert "Әбілқасымова Гүлнұр Серікқызы" in page.content()
        page.screenshot(path=str(ARTIFACTS / "ward-birth-1280.png"), full_page=True)

        page.click("#mother-heading ~ form button[type=submit]")
        page.wait_for_selector("[data-testid=enrollment-code]")
        code = page.get_by_test_id("enrollment-code").inner_text().strip()
        assert len(code) == 14 and code.count("-") == 2
        qr = page.locator("[data-testid=enrollment-qr] svg")
        assert qr.is_visible()
        box = qr.bounding_box()
        assert box is not None and box["width"] >= 150
        page.screenshot(path=str(ARTIFACTS / "ward-enrollment-1280.png"), full_page=True)
        assert not problems, problems
    finally:
        desktop.close()

    # The same pages on a phone (the session cookie travels with the context's state).
    phone = chromium.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, locale="ru-RU"
    )
    page = phone.new_page()
    problems = _watch(page)
    try:
        _log_in(page, base)
        for name, url in (
            ("ward-births", base + "/ward"),
            ("ward-new-birth", base + "/ward/births/new"),
            ("ward-birth", birth_url),
        ):
            response = page.goto(url, wait_until="networkidle")
            assert response is not None and response.status == 200, name
            _no_sideways_scroll(page, name)
            if name == "ward-births":
                assert_rows_stacked(page, "table.stack")
            page.screenshot(path=str(ARTIFACTS / f"{name}-360.png"), full_page=True)
        # A refused record, with its errors, fits too.
        page.goto(base + "/ward/births/new")
        page.fill("#mother_iin", "123")
        page.click("form button.primary[type=submit]")
        page.wait_for_selector(".field-error")
        _no_sideways_scroll(page, "ward-new-birth-errors")
        page.screenshot(path=str(ARTIFACTS / "ward-new-birth-errors-360.png"), full_page=True)
        # Chromium logs the refusal's 400 status as a console error: expected here, and only here.
        assert all("status of 400" in problem for problem in problems), problems
        problems.clear()
        # The code page: the code and the QR code fit the phone.
        page.goto(birth_url)
        page.click("#mother-heading ~ form button[type=submit]")
        page.wait_for_selector("[data-testid=enrollment-code]")
        _no_sideways_scroll(page, "ward-enrollment")
        code_box = page.get_by_test_id("enrollment-code").bounding_box()
        assert code_box is not None and code_box["x"] + code_box["width"] <= PHONE["width"]
        page.screenshot(path=str(ARTIFACTS / "ward-enrollment-360.png"), full_page=True)
        assert not problems, problems
    finally:
        phone.close()
