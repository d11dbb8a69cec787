"""/verify in real Chromium at a phone's size: the seal checked with WebCrypto in the page, still
checked with the network cut after load, and a forged seal refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlmodel import Session

from birthreg.bootstrap import DEFAULT_REGISTRY_OFFICE
from birthreg.db import make_engine
from birthreg.registry.certificate import seal_fields
from signing.seal import make_seal, qr_text
from verify.certificates import LONG_CHILD, context_for, issue

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def test_verify_page_online_then_offline(live_server: Any, chromium: Any) -> None:
    settings = live_server.settings
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            first = issue(settings, session)
            second = issue(settings, session, child_iin="260530600022", act_record_number=124,
                           child=LONG_CHILD)
            fields = json.loads(first.fields)
            fields["child"]["given_name"] = "Аружан"
            forged = qr_text(live_server, make_seal(
                seal_fields(fields), ec.generate_private_key(ec.SECP256R1()),
                context_for(settings, session).seal.certificate,
            ))
            first_qr, second_qr = first.qr, second.qr
    finally:
        engine.dispose()
    # The certificates were issued with the live server's base URL in their QR codes.
    assert first_qr.startswith(live_server + "/verify#")

    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if message.type == "error" else None)
    verdict = page.get_by_test_id("verdict")
    status = page.get_by_test_id("status-note")
    try:
        page.goto(first_qr, wait_until="networkidle")
        page.wait_for_function(
            # A function, not an expression: Playwright polls an expression with eval(),
            # which the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
            "() => document.getElementById('verdict').dataset.verdict === 'valid'", timeout=10_000
        )
        assert page.get_by_test_id("child-given-name").inner_text() == "Айару"
        assert page.get_by_test_id("child-surname").inner_text() == "Әбілқасымова"
        # The office by its name, not the code the seal carries.
        assert page.get_by_test_id("registry-office").inner_text() == (
            DEFAULT_REGISTRY_OFFICE.name
        )
        page.wait_for_function(
            "() => document.getElementById('status-note').dataset.status === 'valid'"
        )
        assert status.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "verify-valid-390x844.png"), full_page=True)

        # The network is cut: the next seal (a compressed one, with the longest names) is
        # still checked, in the page, against the seal certificate it already has.
        context.set_offline(True)
        page.evaluate("hash => { location.hash = hash; }", second_qr.split("#", 1)[1])
        page.wait_for_function(
            "() => document.getElementById('verdict').dataset.verdict === 'valid' && "
            "document.querySelector('[data-field=child_iin]').textContent === '260530600022'",
            timeout=10_000,
        )
        assert page.get_by_test_id("child-given-name").inner_text() == LONG_CHILD["given_name"]
        page.wait_for_function(
            "() => document.getElementById('status-note').dataset.status === undefined && "
            "document.getElementById('status-note').textContent !== ''"
        )
        page.screenshot(path=str(ARTIFACTS / "verify-offline-390x844.png"), full_page=True)

        page.evaluate("hash => { location.hash = hash; }", forged.split("#", 1)[1])
        page.wait_for_function(
            "() => document.getElementById('verdict').dataset.verdict === 'invalid'", timeout=10_000
        )
        assert page.evaluate("document.getElementById('verdict').dataset.reason") == (
            "bad_seal_signature"
        )
        assert not page.get_by_test_id("child-given-name").is_visible()
        assert verdict.is_visible()
        page.screenshot(path=str(ARTIFACTS / "verify-forged-390x844.png"), full_page=True)
        assert not problems, problems
    finally:
        context.close()
