"""The login pages: the form and its CSRF token, where staff land, `next`, logout, cookies."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from birthreg import auth
from birthreg.auth import read_token
from birthreg.auth.login import LOGIN_PAIR
from birthreg.config import Settings
from birthreg.models import LoginThrottle, Role

from .helpers import (
    PASSWORD,
    add_staff,
    audit_actions,
    login_form_token,
    page_login,
    session_csrf,
    set_cookies,
)


def test_login_page_flow(client: TestClient, app: FastAPI, db: Session) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    page = client.get("/login", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    csrf_cookie = set_cookies(page)[auth.LOGIN_CSRF_COOKIE][auth.LOGIN_CSRF_COOKIE]
    assert csrf_cookie["httponly"] and csrf_cookie["samesite"].lower() == "lax"

    response = page_login(client, "ward1")
    assert response.status_code == 303
    assert response.headers["location"] == "/ward"
    cookies = set_cookies(response)
    session_cookie = cookies[auth.SESSION_COOKIE][auth.SESSION_COOKIE]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"].lower() == "lax"
    assert session_cookie["path"] == "/"
    assert not session_cookie["secure"]
    assert session_cookie["max-age"] == str(8 * 60 * 60)
    claims = read_token(app.state.services.settings, session_cookie.value, kind="session")
    assert claims is not None and claims.user_id == user.id and claims.csrf
    assert claims.exp - claims.iat == 8 * 60 * 60
    assert client.get("/api/v1/auth/me").json()["username"] == "ward1"
    # Logged in, the login page sends staff on to their home.
    again = client.get("/login", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/ward")


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.WARD, "/ward"),
        (Role.CLERK, "/registry"),
        (Role.REGISTRAR, "/registry"),
        (Role.ADMIN, "/admin"),
    ],
)
def test_login_goes_to_a_working_home(
    client: TestClient, app: FastAPI, role: Role, home: str
) -> None:
    add_staff(app, "someone", role)
    response = page_login(client, "someone")
    assert response.headers["location"] == home
    landing = client.get(home, headers={"Accept": "text/html"})
    assert landing.status_code == 200, landing.text
    assert 'action="/logout"' in landing.text


def test_wrong_password_on_the_page(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    response = page_login(client, "ward1", "wrong password!")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="flash error"' in response.text
    assert 'value="ward1"' in response.text
    assert auth.SESSION_COOKIE not in set_cookies(response)
    for _ in range(LOGIN_PAIR.free - 1):
        page_login(client, "ward1", "wrong password!")
    waiting = page_login(client, "ward1")
    assert waiting.status_code == 429
    assert int(waiting.headers["retry-after"]) > 0
    assert 'class="flash error"' in waiting.text


@pytest.mark.parametrize("token", [None, "", "wrong-token", "from-another-cookie", "page-csrf"])
def test_login_without_a_valid_csrf_token_is_refused(
    client: TestClient, app: FastAPI, db: Session, token: str | None
) -> None:
    case = token
    add_staff(app, "ward1", Role.WARD)
    entries_before = len(audit_actions(db))
    if token == "from-another-cookie":
        other = TestClient(app, base_url="http://testserver")
        token = login_form_token(other)
    elif token == "page-csrf":
        # A staff session's form token is no login form token.
        other = TestClient(app, base_url="http://testserver")
        add_staff(app, "ward2", Role.WARD)
        page_login(other, "ward2")
        token = session_csrf(other)
        entries_before = len(audit_actions(db))
    login_form_token(client)  # the cookie
    data = {"username": "ward1", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post(
        "/login", data=data, headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "csrf_failed" in response.text
    assert auth.SESSION_COOKIE not in set_cookies(response)
    assert len(audit_actions(db)) == entries_before  # nothing changed: not even a login audit
    if case != "page-csrf":  # (that one logged another account in first)
        assert db.exec(select(LoginThrottle)).all() == []


def test_login_csrf_token_needs_its_cookie(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    token = login_form_token(client)
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"username": "ward1", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/ward/births?day=today", "/ward/births?day=today"),
        ("/registry/queue", "/registry/queue"),
        ("https://evil.example/", "/ward"),
        ("//evil.example/", "/ward"),
        ("/\\evil.example", "/ward"),
        ("/\t/evil.example", "/ward"),
        ("javascript:alert(1)", "/ward"),
        ("http:/evil.example", "/ward"),
        ("/login", "/ward"),
        ("", "/ward"),
    ],
)
def test_next_is_a_local_path_only(
    client: TestClient, app: FastAPI, next_url: str, location: str
) -> None:
    add_staff(app, "ward1", Role.WARD)
    response = page_login(client, "ward1", next=next_url)
    assert response.status_code == 303
    assert response.headers["location"] == location


def test_logout_requires_csrf(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    page_login(client, "ward1")
    refused = client.post("/logout", headers={"Accept": "text/html"}, follow_redirects=False)
    assert refused.status_code == 403
    assert "csrf_failed" in refused.text
    refused = client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/api/v1/auth/me").status_code == 200  # still logged in

    response = client.post(
        "/logout", data={"csrf_token": session_csrf(client)}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    cleared = set_cookies(response)[auth.SESSION_COOKIE][auth.SESSION_COOKIE]
    assert cleared.value in ("", '""') and cleared["max-age"] == "0"
    assert client.get("/api/v1/auth/me").status_code == 401


def test_cookies_are_secure_with_an_https_base_url(service_settings: Settings) -> None:
    from birthreg.bootstrap import initialise
    from birthreg.main import create_app

    settings = service_settings.model_copy(update={"base_url": "https://birthreg.example"})
    initialise(settings)
    https_app = create_app(settings)
    with TestClient(https_app, base_url="https://birthreg.example") as client:
        add_staff(https_app, "ward1", Role.WARD)
        page = client.get("/login", headers={"Accept": "text/html"})
        assert set_cookies(page)[auth.LOGIN_CSRF_COOKIE][auth.LOGIN_CSRF_COOKIE]["secure"]
        response = page_login(client, "ward1")
        assert response.status_code == 303
        session_cookie = set_cookies(response)[auth.SESSION_COOKIE][auth.SESSION_COOKIE]
        assert session_cookie["secure"] and session_cookie["httponly"]
        assert session_cookie["samesite"].lower() == "lax"


def test_login_page_is_translated(client: TestClient) -> None:
    english = client.get("/login", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert "Staff login" in english.text
    assert "{{" not in english.text and "{%" not in english.text
