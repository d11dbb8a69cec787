"""The ward's pages: the whole flow through real form posts (CSRF tokens included), refusals next
to the field with nothing stored, roles, the login redirect, and every page in kk, ru and en."""

from __future__ import annotations

import html as html_text
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg.auth import SESSION_COOKIE, read_token
from birthreg.i18n import LANGUAGES, gettext, use_language
from birthreg.models import Birth, Enrollment, Role, now
from birthreg.ward.service import WARD_TIME_ZONE
from ward.helpers import (
    FATHER_IIN,
    MOTHER_IIN,
    PASSWORD,
    audit_actions,
    counts,
    csr_pem,
    new_key,
    staff,
)

HTML = {"Accept": "text/html,application/xhtml+xml"}
DESK_PASSWORD = "a desk password 1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_CODE = re.compile(r'data-testid="enrollment-code">([A-Z0-9-]+)<')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def log_in(client: TestClient, username: str = "midwife") -> str:
    """Log in through the real form; the session's CSRF token (from the page it lands on)."""
    form = client.get("/login", headers=HTML)
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    # The token every page's forms carry: the session's CSRF value.
    claims = read_token(
        client.app.state.services.settings,  # type: ignore[attr-defined]
        client.cookies[SESSION_COOKIE],
        kind="session",
    )
    assert claims is not None and claims.csrf
    return claims.csrf


def ward_client(app: Any, client: TestClient, username: str = "midwife") -> str:
    staff(app, username=username)
    return log_in(client, username)


def birth_form(token: str | None, **changes: str) -> dict[str, str]:
    born = (now() - timedelta(hours=1)).astimezone(WARD_TIME_ZONE)
    form = {
        "mother_iin": MOTHER_IIN,
        "mother_surname": "Әбілқасымова",
        "mother_given_name": "Гүлнұр",
        "mother_patronymic": "Серікқызы",
        "child_sex": "F",
        "born_date": born.date().isoformat(),
        "born_time": born.strftime("%H:%M"),
        "child_weight_g": "3400",
        "child_length_cm": "51",
        "child_plurality": "1",
        "child_birth_order": "1",
        "attendant": "Сейітова Ж. Қ.",
        **changes,
    }
    if token is not None:
        form["csrf_token"] = token
    return form


def record(client: TestClient, token: str, **changes: str) -> str:
    response = client.post(
        "/ward/births/new", data=birth_form(token, **changes), headers=HTML, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(r"/ward/births/([0-9a-f-]{36})\?flash=birth_recorded", location)
    assert match, location
    return match.group(1)


def field_error(html: str, name: str) -> str:
    """The error shown next to a field (and the field marked invalid), or ""."""
    match = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', html)
    if not match:
        return ""
    assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', html), name
    return html_text.unescape(match.group(1))


def start(client: TestClient, token: str, birth_id: str, **form: str) -> Any:
    return client.post(
        f"/ward/births/{birth_id}/enrollments",
        data={"csrf_token": token, "role": "mother", **form},
        headers=HTML,
    )


# -- the whole flow ---------------------------------------------------------------------------


def test_ward_flow_through_the_pages(app: Any, client: TestClient, db: Session) -> None:
    token = ward_client(app, client)

    listing = client.get("/ward", headers=HTML)
    assert listing.status_code == 200
    assert 'href="/ward/births/new"' in listing.text
    assert 'data-testid="birth-row"' not in listing.text

    form = client.get("/ward/births/new", headers=HTML)
    assert form.status_code == 200
    assert 'action="/ward/births/new"' in form.text and csrf_of(form.text) == token

    birth_id = record(client, token)
    birth = db.get(Birth, birth_id)
    assert birth is not None
    # The local time typed in the form is Almaty time, stored as an aware moment.
    typed = birth_form(None)
    expected = datetime.fromisoformat(f"{typed['born_date']}T{typed['born_time']}").replace(
        tzinfo=WARD_TIME_ZONE
    )
    assert birth.born_at == expected

    page = client.get(f"/ward/births/{birth_id}?flash=birth_recorded", headers=HTML)
    assert page.status_code == 200
    with use_language("kk"):
        assert gettext("The birth is recorded and sealed by the facility.") in page.text
    assert "Әбілқасымова Гүлнұр Серікқызы" in page.text
    assert MOTHER_IIN in page.text
    assert "Өскемен қалалық перзентханасы (TEST)" in page.text
    assert birth.medical_record_sha256 in page.text

    listing = client.get("/ward", headers=HTML)
    assert listing.text.count('data-testid="birth-row"') == 1
    assert "Әбілқасымова Г. С." in listing.text
    assert 'class="badge recorded"' in listing.text

    # The mother's enrollment: the code, big, with its QR code; not cached.
    shown = start(client, token, birth_id)
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    code_match = _CODE.search(shown.text)
    assert code_match and re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code_match.group(1))
    assert re.search(r'<div class="qr"[^>]*><svg ', shown.text)
    assert "http://testserver/enroll" in shown.text
    enrollment_id = re.search(r'action="/ward/enrollments/([0-9a-f-]{36})/pkcs12"', shown.text)
    assert enrollment_id
    desk = f"/ward/enrollments/{enrollment_id.group(1)}/pkcs12"

    # The desk key file: passwords checked first, then the file, once.
    before = counts(db)
    mismatch = client.post(
        desk,
        data={"csrf_token": token, "password": DESK_PASSWORD, "password_repeat": "another one 1",
              "birth_id": birth_id},
        headers=HTML,
    )
    assert mismatch.status_code == 400
    with use_language("kk"):
        assert field_error(mismatch.text, "password_repeat") == gettext(
            "The two passwords are not the same."
        )
    short = client.post(
        desk, data={"csrf_token": token, "password": "short", "password_repeat": "short"},
        headers=HTML,
    )
    assert short.status_code == 400 and field_error(short.text, "password")
    assert counts(db) == before

    key_file = client.post(
        desk,
        data={"csrf_token": token, "password": DESK_PASSWORD, "password_repeat": DESK_PASSWORD,
              "birth_id": birth_id},
        headers=HTML,
    )
    assert key_file.status_code == 200
    assert key_file.headers["content-type"] == "application/x-pkcs12"
    assert key_file.headers["content-disposition"].startswith("attachment;")
    assert key_file.headers["cache-control"] == "no-store"
    loaded = pkcs12.load_pkcs12(key_file.content, DESK_PASSWORD.encode())
    assert loaded.cert is not None and loaded.key is not None
    serial = format(loaded.cert.certificate.serial_number, "x")

    again = client.post(
        desk,
        data={"csrf_token": token, "password": DESK_PASSWORD, "password_repeat": DESK_PASSWORD,
              "birth_id": birth_id},
        headers=HTML,
    )
    assert again.status_code == 409
    with use_language("kk"):
        assert gettext("A key has already been issued for this enrollment.") in again.text

    page = client.get(f"/ward/births/{birth_id}", headers=HTML)
    assert serial in page.text
    assert f'action="/ward/certificates/{serial}/revoke"' in page.text
    assert 'class="badge key_issued"' in page.text

    # The father: his ID checked (the box), his details typed; a wrong IIN shown at the field.
    father = {
        "role": "father",
        "father_iin": FATHER_IIN,
        "father_surname": "Әбілқасымов",
        "father_given_name": "Ерлан",
        "father_patronymic": "Болатұлы",
    }
    before = counts(db)
    unchecked = start(client, token, birth_id, **father)
    assert unchecked.status_code == 400
    assert field_error(unchecked.text, "id_checked")
    assert 'value="Ерлан"' in unchecked.text  # what was typed is kept
    wrong = start(
        client, token, birth_id, **{**father, "father_iin": MOTHER_IIN, "id_checked": "yes"}
    )
    assert wrong.status_code == 400
    with use_language("kk"):
        assert field_error(wrong.text, "father_iin") == gettext(
            "This IIN does not match the person's sex (its 7th digit)."
        )
    assert counts(db) == before
    father_shown = start(client, token, birth_id, **father, id_checked="yes")
    assert father_shown.status_code == 200
    father_code = _CODE.search(father_shown.text)
    assert father_code
    # The code works once, at the API the phone page uses.
    enrolled = client.post(
        "/api/v1/enroll", json={"code": father_code.group(1), "csr_pem": csr_pem(new_key())}
    )
    assert enrolled.status_code == 201, enrolled.text

    # Revocation: a reason (none chosen for you) and a confirmation, both or nothing happens.
    revoke = f"/ward/certificates/{serial}/revoke"
    page = client.get(f"/ward/births/{birth_id}", headers=HTML)
    assert re.search(r'<option value="" selected>', page.text)
    unconfirmed = client.post(
        revoke, data={"csrf_token": token, "birth_id": birth_id}, headers=HTML
    )
    assert unconfirmed.status_code == 400
    with use_language("kk"):
        assert gettext("Choose a reason.") in unconfirmed.text
        assert gettext("Tick this box to confirm the revocation.") in unconfirmed.text
        assert gettext("Fields to correct: %(count)s. See the message under each.") % {
            "count": 2
        } in unconfirmed.text
    assert 'class="badge key_issued" data-testid="progress"' in unconfirmed.text
    # Back to the birth with a flash; a second time is refused on the page.
    revoked = client.post(
        revoke,
        data={"csrf_token": token, "reason": "lost_phone", "confirm": "yes", "birth_id": birth_id},
        headers=HTML, follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/ward/births/{birth_id}?flash=revoked"
    page = client.get(revoked.headers["location"], headers=HTML)
    assert 'class="badge revoked"' in page.text
    # The mother's only key is revoked: the birth's badge says so at once.
    assert 'class="badge key_revoked" data-testid="progress"' in page.text
    assert f'action="/ward/certificates/{serial}/revoke"' not in page.text
    twice = client.post(
        revoke,
        data={"csrf_token": token, "reason": "lost_phone", "confirm": "yes", "birth_id": birth_id},
        headers=HTML,
    )
    assert twice.status_code == 409
    with use_language("kk"):
        assert gettext("This certificate is already revoked.") in twice.text
    bad_reason = client.post(
        revoke,
        data={"csrf_token": token, "reason": "bored", "confirm": "yes", "birth_id": birth_id},
        headers=HTML,
    )
    assert bad_reason.status_code == 400

    roles = sorted(
        (e.role, e.key_path or "") for e in db.exec(select(Enrollment)).all()
    )
    assert roles == [("father", "csr"), ("mother", "pkcs12")]
    actions = [action for action, *_ in audit_actions(db)]
    assert actions.count("birth.recorded") == 1
    assert actions.count("enrollment.started") == 2
    assert actions.count("certificate.issued") == 2
    assert actions.count("certificate.revoked") == 1


def test_the_list_shows_another_day(app: Any, client: TestClient) -> None:
    token = ward_client(app, client)
    record(client, token)
    yesterday = (now().astimezone(WARD_TIME_ZONE) - timedelta(days=2)).date().isoformat()
    other = client.get(f"/ward?date={yesterday}", headers=HTML)
    assert other.status_code == 200
    assert 'data-testid="birth-row"' not in other.text
    assert f'value="{yesterday}"' in other.text
    bad = client.get("/ward?date=yesterday", headers=HTML)
    assert bad.status_code == 400
    assert field_error(bad.text, "date")


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "wrong-token"])
def test_posts_without_the_csrf_token_are_refused(
    app: Any, client: TestClient, db: Session, sent: str | None
) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    before = counts(db)
    extra = {} if sent is None else {"csrf_token": sent}
    refused = [
        client.post("/ward/births/new", data={**birth_form(None), **extra}, headers=HTML),
        client.post(
            f"/ward/births/{birth_id}/enrollments", data={"role": "mother", **extra}, headers=HTML
        ),
    ]
    for response in refused:
        assert response.status_code == 403
        assert "<code>csrf_failed</code>" in response.text
    assert counts(db) == before
    assert db.exec(select(Enrollment)).all() == []


# -- refusals next to the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"mother_iin": "940315400015"}, "mother_iin",
         "This is not a valid IIN: check the 12 digits."),
        ({"mother_iin": FATHER_IIN}, "mother_iin",
         "This IIN does not match the person's sex (its 7th digit)."),
        ({"mother_surname": ""}, "mother_surname", "Fill in this field."),
        ({"mother_given_name": "Гүлнұр2"}, "mother_given_name",
         "Use Kazakh, Russian or Latin letters, a hyphen, an apostrophe and single spaces."),
        ({"child_sex": "X"}, "child_sex", "Choose the child's sex."),
        ({"child_weight_g": "3,4"}, "child_weight_g", "Enter a whole number."),
        ({"child_weight_g": "100"}, "child_weight_g", None),
        ({"child_length_cm": "90"}, "child_length_cm", None),
        ({"child_birth_order": "2"}, "child_birth_order",
         "The birth order is between 1 and the number of babies born."),
        ({"born_date": "2999-01-01"}, "born_date", "The time of birth is in the future."),
        ({"born_date": "2020-01-01"}, "born_date", None),
        ({"born_time": "25:99"}, "born_time", "Enter a time: hours and minutes."),
        ({"attendant": " "}, "attendant", "Enter who attended the birth (up to 200 characters)."),
        ({"mother_surname": "А" * 300}, "mother_surname", "This is too long."),
    ],
)
def test_a_bad_record_is_shown_next_to_its_field(
    app: Any, client: TestClient, db: Session, changes: dict[str, str], field: str,
    message: str | None,
) -> None:
    token = ward_client(app, client)
    client.cookies.set("lang", "ru")
    before = counts(db)
    response = client.post("/ward/births/new", data=birth_form(token, **changes), headers=HTML)
    assert response.status_code == 400
    shown = field_error(response.text, field)
    assert shown
    if message is not None:
        with use_language("ru"):
            assert shown == gettext(message)
            assert gettext(message) != message  # translated
    # What was typed stays in the form (except the refused value's own escaping).
    assert 'value="Сейітова Ж. Қ."' in response.text or field == "attendant"
    assert counts(db) == before


# -- who may see the pages ----------------------------------------------------------------------

PAGE_REQUESTS = [
    ("GET", "/ward"),
    ("GET", "/ward/births/new"),
    ("POST", "/ward/births/new"),
    ("GET", "/ward/births/00000000-0000-0000-0000-000000000000"),
    ("POST", "/ward/births/00000000-0000-0000-0000-000000000000/enrollments"),
    ("POST", "/ward/enrollments/00000000-0000-0000-0000-000000000000/pkcs12"),
    ("POST", "/ward/certificates/ab12/revoke"),
]


def test_a_clerk_may_not_use_the_ward_pages(app: Any, client: TestClient, db: Session) -> None:
    staff(app, username="clerk1", role=Role.CLERK)
    token = log_in(client, "clerk1")
    before = counts(db)
    for method, path in PAGE_REQUESTS:
        data = {"csrf_token": token} if method == "POST" else None
        response = client.request(method, path, data=data, headers=HTML)
        assert response.status_code == 403, (method, path)
        assert "<code>forbidden_role</code>" in response.text
    assert counts(db) == before


def test_anonymous_visitors_are_sent_to_the_login(client: TestClient) -> None:
    for method, path in PAGE_REQUESTS:
        response = client.request(method, path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, (method, path)
        assert response.headers["location"].startswith("/login?next=/ward")
    response = client.get("/ward?date=2026-11-27", headers=HTML, follow_redirects=False)
    assert response.headers["location"] == "/login?next=/ward%3Fdate%3D2026-11-27"


def test_an_unknown_birth_is_a_404_page(app: Any, client: TestClient) -> None:
    ward_client(app, client)
    response = client.get("/ward/births/nope", headers=HTML)
    assert response.status_code == 404
    assert "<code>birth_not_found</code>" in response.text


# -- languages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_renders_in_each_language(
    app: Any, client: TestClient, language: str
) -> None:
    token = ward_client(app, client)
    birth_id = record(client, token)
    client.cookies.set("lang", language)
    pages = {
        "list": client.get("/ward", headers=HTML),
        "form": client.get("/ward/births/new", headers=HTML),
        "invalid": client.post(
            "/ward/births/new", data=birth_form(token, mother_iin="1"), headers=HTML
        ),
        "birth": client.get(f"/ward/births/{birth_id}?flash=birth_recorded", headers=HTML),
        "code": start(client, token, birth_id),
        "desk": client.post(
            "/ward/enrollments/00000000-0000-0000-0000-000000000000/pkcs12",
            data={"csrf_token": token, "password": DESK_PASSWORD,
                  "password_repeat": DESK_PASSWORD},
            headers=HTML,
        ),
    }
    expected = {
        "list": "Today's births",
        "form": "Record a birth",
        "invalid": "This is not a valid IIN: check the 12 digits.",
        "birth": "The birth is recorded and sealed by the facility.",
        "code": "The mother's enrollment code",
        "desk": "There is no such enrollment at this facility.",
    }
    statuses = {"invalid": 400, "desk": 404}
    with use_language(language):
        for name, response in pages.items():
            assert response.status_code == statuses.get(name, 200), (name, response.text)
            html = response.text
            assert f'<html lang="{language}">' in html, name
            # Scripts only from files (the CSP allows no inline script), no inline style.
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
            assert "style=" not in html and "<style" not in html, name
            text = gettext(expected[name])
            assert text in html_text.unescape(html), (name, text)
            if language != "en":
                assert text != expected[name], name
