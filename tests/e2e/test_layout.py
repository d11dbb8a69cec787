"""Every page in real Chromium, in Kazakh, Russian and English, on a 1366×800 desk screen and a
390×844 phone (issue 16): none scrolls sideways or cuts a table column, and axe-core (shipped
for the tests only, tests/vendor/axe-core) finds no serious or critical violation.

The pages are the demo's (`birthreg demo`: births in every state, a ward, a clerk and an admin
account), so that each one shows real rows. With BIRTHREG_SCREENSHOTS=<folder> (`make
screenshots`) the main pages are also saved there, as the README's walk-through shows them.
Beyond the demo, the tests' factories add a late dossier (the registrar's approval form) and two
dossiers of one mother (the clerk's duplicate decision form); and two mothers sign in with their
keys as the phone does (tests/parents/helpers): one with a draft application, one whose birth is
registered. Their pages are opened with their session cookies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ci_guard import HTTP_TIMEOUT
from fastapi.testclient import TestClient
from parents.helpers import draft, enroll_phone, new_birth, sign_application
from registry import factories as f
from registry.test_decisions import REASON, late_dossier
from sqlmodel import Session, col, select
from ward.helpers import staff

from birthreg.auth import create_staff_user
from birthreg.db import make_engine
from birthreg.demo import run_demo
from birthreg.main import create_app
from birthreg.models import (
    Birth,
    BirthCertificate,
    Enrollment,
    ParentApplication,
    Role,
    Submission,
    now,
)

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"desk": {"width": 1366, "height": 800}, "phone": {"width": 390, "height": 844}}
LANGUAGES = ("kk", "ru", "en")
#: Pages pictured for the README (name → path key below), in the walk-through's order.
PICTURED = ("home", "ward-births", "ward-new-birth", "ward-birth", "ward-code", "verify",
            "registry-queue", "registry-submission")

pytestmark = pytest.mark.browser

#: Wider than its box: the page itself, or a table's scrolling wrapper (a cut column), or any
#: element that reaches past the right edge of the screen.
_MEASURE = """() => {
    const root = document.documentElement;
    const wraps = Array.from(document.querySelectorAll('.table-wrap'))
        .filter(w => w.scrollWidth > w.clientWidth + 1)
        .map(w => (w.querySelector('table') || w).className || 'table');
    const right = root.clientWidth + 1;
    const past = Array.from(document.body.querySelectorAll('*'))
        .filter(e => {
            const box = e.getBoundingClientRect();
            const inside = e.closest('.table-wrap, .visually-hidden');
            return box.width > 0 && box.right > right && !inside;
        })
        .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')).slice(0, 5);
    return {page: [root.scrollWidth, root.clientWidth], wraps, past};
}"""

_AXE_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => v.id + ' (' + v.impact + '): '
            + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


REGISTRAR_PASSWORD = "a long test password 1"


def _submit(base: str, dossier: dict[str, Any]) -> str:
    response = httpx.post(f"{base}/api/v1/registry/submissions", json=dossier,
                          timeout=HTTP_TIMEOUT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _arrange_decisions(live_server: Any) -> dict[str, str]:
    """Beyond the demo: a registrar, a late dossier waiting for her approval and two dossiers of
    one mother (likely duplicates, the clerk's decision form), by the tests' factories."""
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            create_staff_user(
                session, username="registrar", password=REGISTRAR_PASSWORD, role=Role.REGISTRAR
            )
            session.commit()
    finally:
        engine.dispose()
    app = create_app(live_server.settings)
    with TestClient(app):
        late_mother = f.issue_person(app, f.person(100))
        late = _submit(str(live_server), late_dossier(app, late_mother, late_reason=REASON))
        twice = f.issue_person(app, f.person(700, surname="Семёнова", given_name="Әлия"))
        first = _submit(str(live_server), f.good_dossier(app, twice))
        _submit(str(live_server), f.good_dossier(app, twice))
        corrected = _corrected_record(str(live_server), app)
    return {"late": late, "duplicate": first, "corrected": corrected}


def _corrected_record(base: str, app: Any) -> str:
    """A registered record with a copy issued (the issuance log) and a correction waiting for a
    registrar (the corrections list, the approval forms)."""
    clerk = f.staff_headers(app, Role.CLERK)
    mother = f.issue_person(app, f.person(300))
    submission_id = _submit(base, f.good_dossier(app, mother))
    api = f"{base}/api/v1/registry"
    registered = httpx.post(f"{api}/submissions/{submission_id}/register", headers=clerk,
                            timeout=HTTP_TIMEOUT)
    certificate_id = registered.json()["certificate_id"]
    collector = {"iin": mother.subject.iin, "name": "Айгүл Серікова", "document_checked": True}
    for path, body in (
        ("copies", {"reason": "The first was lost.", "collector": collector}),
        ("corrections", {"changes": {"child.given_name": "Аяжан"}, "reason": "Misspelt."}),
    ):
        response = httpx.post(f"{api}/certificates/{certificate_id}/{path}", json=body,
                              headers=clerk, timeout=HTTP_TIMEOUT)
        assert response.status_code == 201, response.text
    return submission_id


def _paths(settings: Any, arranged: dict[str, str]) -> dict[str, dict[str, str]]:
    """The pages to open, by the account that sees them (None: anyone)."""
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            births = session.exec(select(Birth).order_by(col(Birth.born_at))).all()
            registered = next(b for b in births if b.progress == "registered")
            pending = session.exec(
                select(Enrollment).where(col(Enrollment.used_at).is_(None))
                .where(Enrollment.expires_at > now())
            ).first()
            submission = session.exec(select(Submission)).first()
            record = session.exec(
                select(Submission).where(Submission.status == "registered")
            ).first()
            certificate = session.exec(select(BirthCertificate)).first()
    finally:
        engine.dispose()
    ward = {
        "ward-births": "/ward",
        "ward-new-birth": "/ward/births/new",
        "ward-birth": f"/ward/births/{registered.id}",
    }
    if pending is not None:
        ward["ward-code"] = f"/ward/enrollments/{pending.id}"
    clerk = {
        "registry-queue": "/registry",
        "registry-statistics": "/registry/statistics",
        "registry-search": "/registry/search?q=%D1%81%D0%B5%D0%BC%D0%B5%D0%BD",
        "registry-corrections": "/registry/corrections",
        "registry-check": "/registry/check",
        "registry-duplicate": f"/registry/submissions/{arranged['duplicate']}",
        "notify-outbox": "/notify/outbox",
    }
    if submission is not None:
        clerk["registry-submission"] = f"/registry/submissions/{submission.id}"
    if record is not None:
        clerk["registry-record"] = f"/registry/submissions/{record.id}"
    if certificate is not None:
        clerk["registry-certificate"] = f"/registry/certificates/{certificate.id}/print"
    return {
        "": {
            "home": "/",
            "verify": "/verify",
            "enroll": "/enroll",
            "login": "/login",
            "parents-sign-in": "/parents/sign-in",
            "parents-key-file": "/parents/key-file",
            "parents-lost-key": "/parents/lost-key",
            "parents-join": "/parents/join",
            "not-found": "/no-such-page",
        },
        "ward": ward,
        "clerk": clerk,
        "admin": {"admin-users": "/admin", "admin-user": "/admin/users/ward"},
        "registrar": {
            "registry-late": f"/registry/submissions/{arranged['late']}",
            "registry-corrected": f"/registry/submissions/{arranged['corrected']}",
            "registry-corrections-pending": "/registry/corrections",
        },
        **_parents_paths(arranged),
    }


def _parents_paths(arranged: dict[str, str]) -> dict[str, dict[str, str]]:
    """The signed-in mothers' pages (`_signed_in_mothers`)."""
    draft_id, registered_id = arranged["mother-draft"], arranged["mother-registered"]
    return {
        "mother-draft": {
            "parents-home-draft": "/parents",
            "parents-form": f"/parents/application?edit={draft_id}",
            "parents-review": f"/parents/applications/{draft_id}",
        },
        "mother-registered": {
            "parents-home-registered": "/parents",
            "parents-record": f"/parents/applications/{registered_id}",
            "parents-correction": f"/parents/applications/{registered_id}/correction",
        },
    }


def _signed_in_mothers(live_server: Any) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """Two mothers enrolled at the ward and signed in with their keys (the phone's API, as
    tests/parents/helpers does it): "mother-draft" with a draft application, "mother-registered"
    whose signed application the registry registered. Their applications' ids, and their
    session cookies for the browser."""
    base = str(live_server)
    app = create_app(live_server.settings)
    ids: dict[str, str] = {}
    cookies: dict[str, list[Any]] = {}
    with TestClient(app), httpx.Client(base_url=base, timeout=60) as desk:
        ward = staff(app, username="layout-midwife")[1]
        clerk = f.staff_headers(app, Role.CLERK)
        for account, serial in (("mother-draft", 810), ("mother-registered", 820)):
            mother = f.person(serial, surname="Жақсылықова", given_name="Меруерт")
            names = {"surname": mother.surname, "given_name": mother.given_name}
            birth_id = new_birth(desk, ward, mother={"iin": mother.iin, **names})
            phone = enroll_phone(
                app, desk, ward, birth_id, phone_client=httpx.Client(base_url=base, timeout=60)
            )
            try:
                assert phone.sign_in().status_code == 200
                ids[account] = draft(phone)
                if account == "mother-registered":
                    signed = sign_application(phone, ids[account])
                    assert signed.json()["submitted"] is True, signed.text
                    registered = desk.post(
                        f"/api/v1/registry/submissions/{_submission_of(app, ids[account])}"
                        "/register", headers=clerk,
                    )  # fmt: skip
                    assert registered.status_code == 201, registered.text
                jar = phone.client.cookies.jar
                cookies[account] = [{"name": c.name, "value": c.value, "url": base} for c in jar]
            finally:
                phone.client.close()
    return ids, cookies


def _submission_of(app: Any, application_id: str) -> str:
    with Session(app.state.services.engine) as session:
        application = session.get(ParentApplication, application_id)
        assert application is not None and application.submission_id
        return application.submission_id


@pytest.fixture
def demo(live_server: Any) -> Iterator[tuple[str, dict[str, Any], dict[str, dict[str, str]]]]:
    """The base URL; per account its password, or (a parent) her session cookies; the pages."""
    result = run_demo(live_server.settings)
    arranged = _arrange_decisions(live_server)
    mothers, cookies = _signed_in_mothers(live_server)
    logins = {**result.logins, "registrar": REGISTRAR_PASSWORD, **cookies}
    yield str(live_server), logins, _paths(live_server.settings, {**arranged, **mothers})


def _log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button.primary[type=submit]")
    page.wait_for_load_state("networkidle")


def _check(page: Any, name: str) -> list[str]:
    problems = []
    laid = page.evaluate(_MEASURE)
    if laid["page"][0] > laid["page"][1]:
        problems.append(f"{name}: scrolls sideways {laid['page']}")
    problems += [f"{name}: a table's column is cut ({wrap})" for wrap in laid["wraps"]]
    problems += [f"{name}: reaches past the screen ({element})" for element in laid["past"]]
    page.add_script_tag(path=str(AXE))
    problems += [f"{name}: axe {violation}" for violation in page.evaluate(_AXE_RUN)]
    return problems


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_page_fits_and_passes_axe(
    demo: tuple[str, dict[str, Any], dict[str, dict[str, str]]], chromium: Any, size: str
) -> None:
    base, logins, paths = demo
    pictures = os.environ.get("BIRTHREG_SCREENSHOTS")
    problems: list[str] = []
    for language in LANGUAGES:
        for account, pages in paths.items():
            # bypass_csp: axe-core is injected as an inline script, which the CSP refuses.
            context = chromium.new_context(
                viewport=SIZES[size], bypass_csp=True, is_mobile=size == "phone",
                device_scale_factor=2 if size == "phone" else 1,
            )
            context.add_cookies([{"name": "lang", "value": language, "url": base}])
            page = context.new_page()
            try:
                parent = isinstance(logins.get(account), list)
                if parent:  # her session cookie, as her phone holds it once she signed in
                    context.add_cookies(logins[account])
                elif account:
                    _log_in(page, base, account, logins[account])
                for name, path in pages.items():
                    page.goto(base + path, wait_until="networkidle")
                    if parent and page.url != base + path:  # not sent to the sign-in page
                        problems.append(f"{name} {language} {size}: went to {page.url}")
                    problems += _check(page, f"{name} {language} {size}")
                    if pictures and name in PICTURED and language == "en":
                        Path(pictures).mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(Path(pictures) / f"{name}-{size}.png"))
            finally:
                context.close()
    assert not problems, "\n".join(problems)
