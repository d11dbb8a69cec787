"""The ward's forms in real Chromium on a phone (issue 16): a refused birth record puts the focus
on its first field in error, in view, with every error shown; so does the father's form, far down
the birth's page; nothing typed is lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from e2e.test_ward_browser import PHONE, _add_midwife, _log_in

from birthreg.models import now
from birthreg.ward.service import WARD_TIME_ZONE

pytestmark = pytest.mark.browser

_FOCUSED_IN_VIEW = """() => {
    const e = document.activeElement;
    const box = e.getBoundingClientRect();
    return {id: e.id, inView: box.top >= 0 && box.bottom <= window.innerHeight};
}"""


def test_the_first_error_takes_the_focus(live_server: Any, chromium: Any) -> None:
    _add_midwife(live_server)
    base = str(live_server)
    context = chromium.new_context(viewport=PHONE, is_mobile=True, locale="kk-KZ")
    page = context.new_page()
    try:
        _log_in(page, base)
        page.goto(base + "/ward/births/new")
        born = (now() - timedelta(hours=1)).astimezone(WARD_TIME_ZONE)
        page.fill("#mother_iin", "94031540001")  # 11 digits
        page.fill("#mother_surname", "Сейітова")
        page.fill("#mother_given_name", "Ай2")
        page.select_option("#child_sex", "F")
        page.fill("#born_date", born.date().isoformat())
        page.fill("#born_time", born.strftime("%H:%M"))
        page.fill("#child_weight_g", "100")
        page.fill("#child_length_cm", "50")
        page.click("form button.primary[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator(".field-error").count() == 3
        focused = page.evaluate(_FOCUSED_IN_VIEW)
        assert focused == {"id": "mother_iin", "inView": True}
        assert page.input_value("#mother_given_name") == "Ай2"
        assert page.input_value("#child_length_cm") == "50"

        # The father's form, at the bottom of a birth's page: back in view after a refusal.
        page.fill("#mother_iin", "940315400014")
        page.fill("#mother_given_name", "Айгүл")
        page.fill("#child_weight_g", "3400")
        page.click("form button.primary[type=submit]")
        page.wait_for_url(base + "/ward/births/*")
        page.fill("#father_iin", "940315400014")  # a woman's IIN
        page.fill("#father_surname", "Сейітов")
        page.fill("#father_given_name", "Ерлан")
        page.locator("#father_iin").press("Enter")
        page.wait_for_load_state("networkidle")
        assert page.locator(".field-error").count() == 2  # his IIN, and the ID box not ticked
        assert page.evaluate(_FOCUSED_IN_VIEW) == {"id": "father_iin", "inView": True}
        assert page.input_value("#father_given_name") == "Ерлан"
    finally:
        context.close()
