"""The home page in real Chromium at a phone's size: TEST marker, CSP, no console errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def test_home_page_on_a_phone(live_server: str, chromium: Any) -> None:
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}")
        if message.type in ("error", "warning")
        else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    try:
        response = page.goto(live_server + "/", wait_until="networkidle")
        assert response is not None and response.status == 200
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp

        banner = page.get_by_test_id("test-banner")
        assert banner.is_visible()
        assert "TEST SERVICE" in banner.inner_text()
        assert "TEST" in page.title()
        # The stylesheet loaded under the CSP (an inline style would have been refused).
        assert page.evaluate(
            "getComputedStyle(document.querySelector('.test-banner')).backgroundColor"
        ) == "rgb(176, 0, 32)"
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "home-390x844.png"), full_page=True)
        assert not problems, problems
    finally:
        context.close()
