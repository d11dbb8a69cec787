"""Switching the language keeps the page's state in real Chromium: the address's fragment on
/verify (which the server never sees) and a code typed on /enroll."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_the_fragment_and_a_typed_code_survive_a_language_switch(
    live_server: Any, chromium: Any
) -> None:
    context = chromium.new_context(locale="kk-KZ", extra_http_headers={"Accept-Language": "kk"})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{live_server}/verify#HC1:NOT-A-REAL-SEAL")
        page.locator(".lang-switch button[value=ru]").click()
        page.wait_for_selector("html[lang=ru]")
        assert page.url.endswith("/verify#HC1:NOT-A-REAL-SEAL")

        page.goto(f"{live_server}/enroll")
        page.locator("#code").fill("ABCD-EFGH-JKMN")
        page.locator(".lang-switch button[value=en]").click()
        page.wait_for_selector("html[lang=en]")
        assert page.locator("#code").input_value() == "ABCD-EFGH-JKMN"
        # Kept for the switch only: a later visit starts empty.
        page.goto(f"{live_server}/enroll")
        assert page.locator("#code").input_value() == ""
        assert not problems, problems
    finally:
        context.close()
