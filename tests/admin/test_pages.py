"""The admin's pages: the accounts, adding one, role, disable and enable, a new password; in
Kazakh, Russian and English; CSRF on every form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg.models import Role, StaffUser

from .helpers import PASSWORD, add_staff, token_status

HTML = {"Accept": "text/html", "Accept-Language": "en"}


def log_in(client: TestClient, username: str = "admin1") -> None:
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        headers=HTML,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def admin_page(app: Any, client: TestClient) -> str:
    add_staff(app, "admin1", Role.ADMIN)
    log_in(client)
    page = client.get("/admin", headers=HTML)
    assert page.status_code == 200
    return page.text


def user_row(db: Session, username: str) -> StaffUser:
    db.expire_all()
    return db.exec(select(StaffUser).where(StaffUser.username == username)).one()


def test_the_admin_home_lists_accounts(app: Any, client: TestClient, admin_page: str) -> None:
    assert "<h1>Staff accounts</h1>" in admin_page
    assert 'href="/admin/users/admin1"' in admin_page
    assert "Administrator" in admin_page
    # Every role can be chosen, the registrar too.
    for role in Role:
        assert f'value="{role.value}"' in admin_page


def test_adding_an_account(
    app: Any, client: TestClient, db: Session, admin_page: str
) -> None:
    form = {
        "csrf_token": csrf_of(admin_page), "username": "nurse.a", "display_name": "Aigerim S.",
        "role": "registrar", "password": PASSWORD, "password_repeat": PASSWORD,
    }
    added = client.post("/admin/users", data=form, headers=HTML, follow_redirects=False)
    assert (added.status_code, added.headers["location"]) == (303, "/admin?flash=user_added")
    assert user_row(db, "nurse.a").role == "registrar"
    shown = client.get(added.headers["location"], headers=HTML)
    assert "The account is added." in shown.text and "nurse.a" in shown.text
    assert token_status(client, "nurse.a") == 200


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"username": ""}, 400, "Fill in this field."),
        ({"password_repeat": "something else entirely"}, 400, "The two passwords are not"),
        ({"password": "short", "password_repeat": "short"}, 400, "10 to 1024 characters"),
        ({"password": "\x00" * 12, "password_repeat": "\x00" * 12}, 400, "no control characters"),
        ({"username": "admin1"}, 409, "This username is taken."),
        ({"username": "a b"}, 400, "lower-case Latin letters"),
        ({"role": "root"}, 400, "Choose a role."),
        ({"facility_id": "999"}, 400, "Choose a facility from the list."),
    ],
)
def test_adding_refuses_with_the_reason(
    client: TestClient, db: Session, admin_page: str, changes: dict[str, str], status: int,
    message: str,
) -> None:
    form = {
        "csrf_token": csrf_of(admin_page), "username": "nurse.a", "role": "ward",
        "password": PASSWORD, "password_repeat": PASSWORD, **changes,
    }
    before = len(db.exec(select(StaffUser)).all())
    response = client.post("/admin/users", data=form, headers=HTML)
    assert response.status_code == status
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert PASSWORD not in response.text  # passwords are never written back into the form
    assert len(db.exec(select(StaffUser)).all()) == before


def test_managing_an_account(
    app: Any, client: TestClient, db: Session, admin_page: str
) -> None:
    add_staff(app, "ward1", Role.WARD)
    other = TestClient(app, base_url="http://testserver")
    log_in(other, "ward1")
    assert other.get("/api/v1/auth/me").status_code == 200

    page = client.get("/admin/users/ward1", headers=HTML)
    assert page.status_code == 200 and "<h1>ward1</h1>" in page.text
    csrf = csrf_of(page.text)
    disabled = client.post(
        "/admin/users/ward1/disabled", data={"csrf_token": csrf, "disabled": "1"}, headers=HTML,
        follow_redirects=False,
    )
    assert disabled.headers["location"] == "/admin/users/ward1?flash=disabled"
    assert user_row(db, "ward1").disabled
    assert other.get("/api/v1/auth/me").status_code == 401  # her session ended at once
    shown = client.get(disabled.headers["location"], headers=HTML)
    assert "Enable the account" in shown.text and "its sessions have ended" in shown.text
    client.post("/admin/users/ward1/disabled", data={"csrf_token": csrf, "disabled": "0"},
                headers=HTML)
    assert not user_row(db, "ward1").disabled

    changed = client.post(
        "/admin/users/ward1/role", data={"csrf_token": csrf, "role": "clerk"}, headers=HTML,
        follow_redirects=False,
    )
    assert changed.headers["location"] == "/admin/users/ward1?flash=role_changed"
    assert user_row(db, "ward1").role == "clerk"

    mismatch = client.post(
        "/admin/users/ward1/password",
        data={"csrf_token": csrf, "password": "a new long password",
              "password_repeat": "another one"},
        headers=HTML,
    )
    assert mismatch.status_code == 400 and "The two passwords are not the same." in mismatch.text
    reset = client.post(
        "/admin/users/ward1/password",
        data={"csrf_token": csrf, "password": "a new long password",
              "password_repeat": "a new long password"},
        headers=HTML, follow_redirects=False,
    )
    assert reset.headers["location"] == "/admin/users/ward1?flash=password_reset"
    assert token_status(client, "ward1", "a new long password") == 200


def test_the_last_admin_is_kept(client: TestClient, db: Session, admin_page: str) -> None:
    page = client.get("/admin/users/admin1", headers=HTML)
    csrf = csrf_of(page.text)
    for path, data in (
        ("/admin/users/admin1/disabled", {"disabled": "1"}),
        ("/admin/users/admin1/role", {"role": "ward"}),
    ):
        refused = client.post(path, data={"csrf_token": csrf, **data}, headers=HTML)
        assert refused.status_code == 409
        assert "This is the last enabled admin account" in refused.text
    row = user_row(db, "admin1")
    assert (row.role, row.disabled) == ("admin", False)


def test_admin_forms_need_the_csrf_token(
    app: Any, client: TestClient, db: Session, admin_page: str
) -> None:
    add_staff(app, "ward1", Role.WARD)
    for path, data in (
        ("/admin/users", {"username": "x-y-z", "role": "admin", "password": PASSWORD,
                          "password_repeat": PASSWORD}),
        ("/admin/users/ward1/disabled", {"disabled": "1"}),
        ("/admin/users/ward1/role", {"role": "admin"}),
        ("/admin/users/ward1/password", {"password": PASSWORD * 2,
                                         "password_repeat": PASSWORD * 2}),
    ):
        for token in (None, "forged"):
            form = data if token is None else {**data, "csrf_token": token}
            refused = client.post(path, data=form, headers=HTML)
            assert refused.status_code == 403, path
    row = user_row(db, "ward1")
    assert (row.role, row.disabled) == ("ward", False)
    assert db.exec(select(StaffUser).where(StaffUser.username == "x-y-z")).first() is None


def test_an_unknown_account_is_a_404_page(client: TestClient, admin_page: str) -> None:
    response = client.get("/admin/users/nobody", headers=HTML)
    assert response.status_code == 404 and "user_not_found" in response.text


@pytest.mark.parametrize("role", [Role.WARD, Role.CLERK, Role.REGISTRAR])
def test_other_roles_are_refused(app: Any, client: TestClient, role: Role) -> None:
    add_staff(app, "someone", role)
    log_in(client, "someone")
    response = client.get("/admin", headers=HTML)
    assert response.status_code == 403 and "forbidden_role" in response.text


@pytest.mark.parametrize(
    ("language", "heading", "role"),
    [
        ("kk", "Қызметкерлердің тіркелгілері", "Әкімші"),
        ("ru", "Учётные записи сотрудников", "Администратор"),
        ("en", "Staff accounts", "Administrator"),
    ],
)
def test_the_pages_speak_three_languages(
    client: TestClient, admin_page: str, language: str, heading: str, role: str
) -> None:
    for path in ("/admin", "/admin/users/admin1"):
        page = client.get(path, headers={"Accept": "text/html", "Accept-Language": language})
        assert page.status_code == 200
        assert heading in page.text and role in page.text
        assert f'lang="{language}"' in page.text
