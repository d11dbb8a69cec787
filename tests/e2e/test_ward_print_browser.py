"""The promise the project started from, in real Chromium at the ward's desk: a birth is
registered, the birth's page offers the signed certificate, the midwife prints it, the
registry's issuance log says "printed at the ward", and the day's list shows the hours from
birth to certificate. The desk key-file form forgets an earlier refusal once a file is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e.test_parents_browser import Service
from e2e.test_ward_browser import _no_sideways_scroll, _watch
from parents.helpers import draft, enroll_phone, sign_application
from ward.helpers import PASSWORD

pytestmark = pytest.mark.browser

DESK = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def service(live_server: Any) -> Any:
    result = Service(live_server)
    try:
        yield result
    finally:
        result.close()


def _registered_birth(service: Service) -> tuple[str, str]:
    """A birth whose mother signed on her phone (plain HTTP here) and that a clerk registered."""
    birth_id = service.birth()
    with httpx.Client(base_url=service.url, timeout=60) as phone_http:
        mother = enroll_phone(
            None, service.http, service.ward, birth_id, phone_client=phone_http  # type: ignore[arg-type]
        )
        assert mother.sign_in().status_code == 200
        application_id = draft(mother)
        assert sign_application(mother, application_id).json()["submitted"] is True
    submission_id = service.application(application_id).submission_id
    registered = service.http.post(
        f"/api/v1/registry/submissions/{submission_id}/register", headers=service.clerk
    )
    assert registered.status_code == 201, registered.text
    return birth_id, str(registered.json()["certificate_id"])


def _log_in(page: Any, base: str) -> None:
    page.goto(base + "/login?next=/ward")
    page.fill("#username", "midwife")
    page.fill("#password", PASSWORD)
    page.click("button.primary[type=submit]")
    page.wait_for_url(base + "/ward")


def _issuance_kinds(service: Service, certificate_id: str) -> list[str]:
    log = service.http.get(
        f"/api/v1/registry/certificates/{certificate_id}/issuances", headers=service.clerk
    )
    assert log.status_code == 200, log.text
    return [entry["kind"] for entry in log.json()["issuances"]]


def test_the_ward_prints_the_certificate_before_she_leaves(
    service: Service, chromium: Any, tmp_path: Path
) -> None:
    birth_id, certificate_id = _registered_birth(service)
    context = chromium.new_context(viewport=DESK, locale="ru-RU", accept_downloads=True)
    page = context.new_page()
    problems = _watch(page)
    try:
        _log_in(page, service.url)
        page.goto(f"{service.url}/ward/births/{birth_id}")
        section = page.get_by_test_id("ward-certificate")
        assert section.is_visible()
        _no_sideways_scroll(page, "ward-birth-registered")
        with page.expect_download() as download_info:
            section.locator("button[type=submit]").click()
        pdf = Path(download_info.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf  # the registry's signed PDF

        page.goto(f"{service.url}/ward")
        hours = page.get_by_test_id("hours-to-certificate")
        assert hours.count() == 1 and "ч после рождения" in hours.inner_text()
        _no_sideways_scroll(page, "ward-births-registered")
        assert not problems, problems
    finally:
        context.close()
    assert _issuance_kinds(service, certificate_id) == ["original", "printed_at_ward"]
    # The same pages fit a phone, in Kazakh.
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, locale="kk-KZ")
    page = phone.new_page()
    try:
        _log_in(page, service.url)
        for name, path in (("birth", f"/ward/births/{birth_id}"), ("births", "/ward")):
            page.goto(service.url + path)
            _no_sideways_scroll(page, f"ward-{name}-registered-390")
        assert page.get_by_test_id("hours-to-certificate").is_visible()
    finally:
        phone.close()


def test_the_key_file_form_forgets_an_earlier_refusal(service: Service, chromium: Any) -> None:
    birth_id = service.birth()
    context = chromium.new_context(viewport=DESK, locale="en-GB", accept_downloads=True)
    page = context.new_page()
    try:
        _log_in(page, service.url)
        page.goto(f"{service.url}/ward/births/{birth_id}")
        page.click("#mother-heading ~ form button[type=submit]")
        page.wait_for_selector("[data-testid=enrollment-code]")
        page.fill("#password", "short")
        page.fill("#password_repeat", "short")
        page.click("form[data-download] button[type=submit]")
        page.wait_for_selector(".field-error")
        page.fill("#password", "a desk password 1")
        page.fill("#password_repeat", "a desk password 1")
        with page.expect_download() as download_info:
            page.click("form[data-download] button[type=submit]")
        assert download_info.value.suggested_filename.endswith(".p12")
        page.wait_for_function("document.querySelectorAll('.field-error').length === 0")
        assert page.locator("[aria-invalid=true]").count() == 0
        assert page.input_value("#password") == "" and page.input_value("#password_repeat") == ""
    finally:
        context.close()
