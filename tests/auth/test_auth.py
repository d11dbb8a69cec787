"""Staff accounts, tokens, sessions, CSRF, throttling and role checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Annotated, Any

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from birthreg import auth
from birthreg.auth import (
    AdminStaff,
    ClerkStaff,
    WardStaff,
    actor_of,
    authenticate,
    change_role,
    create_staff_user,
    hash_password,
    issue_token,
    read_token,
    require_role,
    route_table,
    set_disabled,
    throttle_key,
    verify_password,
)
from birthreg.cli import app as cli
from birthreg.config import Settings
from birthreg.errors import DomainError
from birthreg.models import AuditEntry, LoginThrottle, Role, StaffUser, now

PASSWORD = "correct horse battery"
ALL_STAFF = frozenset(Role)


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with tiny parameters: the tests exercise the flow, not the work factor."""
    monkeypatch.setattr(
        auth, "password_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def add_staff(
    app: FastAPI, username: str, role: Role, password: str = PASSWORD, **changes: Any
) -> StaffUser:
    with Session(app.state.engine) as session:
        user = create_staff_user(
            session, username=username, password=password, role=role, **changes
        )
        session.commit()
        session.refresh(user)
        session.expunge(user)
        return user


def get_token(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password, "grant_type": "password"},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(db: Session) -> list[tuple[str, str]]:
    rows = db.exec(select(AuditEntry).order_by(col(AuditEntry.seq))).all()
    return [(row.action, row.object_id) for row in rows]


def set_cookies(response: Any) -> dict[str, SimpleCookie]:
    """The response's Set-Cookie headers, by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def login_form_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the login form carries a CSRF token"
    return match.group(1)


def page_login(
    client: TestClient, username: str, password: str = PASSWORD, **fields: str
) -> Any:
    token = login_form_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, **fields},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )


def session_csrf(client: TestClient) -> str:
    cookie = client.cookies.get(auth.SESSION_COOKIE)
    assert cookie
    payload = cookie.split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["csrf"])


# --- passwords and accounts ---------------------------------------------------------------------


def test_passwords_are_argon2id_and_checked() -> None:
    password_hash = hash_password(PASSWORD)
    assert password_hash.startswith("$argon2id$")
    assert verify_password(password_hash, PASSWORD)
    assert not verify_password(password_hash, PASSWORD + "!")
    assert not verify_password("not a hash", PASSWORD)
    with pytest.raises(DomainError) as refused:
        hash_password("short")
    assert (refused.value.code, refused.value.status) == ("weak_password", 400)


def test_default_hasher_is_argon2id() -> None:
    # The module's own default (the fixture swaps it for tests only).
    assert PasswordHasher().type.name == "ID"


@pytest.mark.parametrize(
    ("username", "password", "code", "status"),
    [
        ("ab", PASSWORD, "invalid_username", 400),
        ("a" * 65, PASSWORD, "invalid_username", 400),
        ("nurse aigerim", PASSWORD, "invalid_username", 400),
        ("медсестра", PASSWORD, "invalid_username", 400),
        ("nurse", "nine char", "weak_password", 400),
        ("taken", PASSWORD, "username_taken", 409),
        ("TAKEN", PASSWORD, "username_taken", 409),
    ],
)
def test_create_staff_user_refuses_bad_input(
    client: TestClient, app: FastAPI, db: Session, username: str, password: str, code: str,
    status: int,
) -> None:
    add_staff(app, "taken", Role.WARD)
    before = db.exec(select(StaffUser)).all()
    with Session(app.state.engine) as session, pytest.raises(DomainError) as refused:
        create_staff_user(session, username=username, password=password, role=Role.CLERK)
    assert (refused.value.code, refused.value.status) == (code, status)
    assert len(db.exec(select(StaffUser)).all()) == len(before)


def test_create_staff_user_is_audited(client: TestClient, app: FastAPI, db: Session) -> None:
    user = add_staff(app, "Nurse.Aigerim", Role.WARD, display_name="Aigerim S.")
    assert user.username == "nurse.aigerim"
    assert user.password_hash.startswith("$argon2id$")
    assert ("staff.created", str(user.id)) in audit_actions(db)
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "staff.created")).one()
    assert (entry.actor, entry.role) == ("system", "system")
    assert actor_of(user) == f"staff:{user.id}"


# --- the token flow -----------------------------------------------------------------------------


def test_token_flow(client: TestClient, app: FastAPI, db: Session) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    response = get_token(client, "ward1")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert response.headers["cache-control"] == "no-store"
    claims = read_token(app.state.settings, body["access_token"], kind="api")
    assert claims is not None
    assert (claims.user_id, claims.role, claims.kind) == (user.id, "ward", "api")
    assert claims.exp - claims.iat == 15 * 60
    assert claims.csrf is None

    me = client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "ward1"
    assert ("staff.login", str(user.id)) in audit_actions(db)


def test_grant_type_must_be_password(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    response = client.post(
        "/api/v1/auth/token",
        data={"username": "ward1", "password": PASSWORD, "grant_type": "client_credentials"},
    )
    assert response.status_code == 422


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, app: FastAPI, db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    caplog.set_level(logging.DEBUG)
    wrong = get_token(client, "ward1", "wrong password!")
    unknown = get_token(client, "nobody", "wrong password!")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_credentials",
            "detail": "wrong username or password",
        }
        assert response.headers["www-authenticate"] == "Bearer"
    failed = [item for item in audit_actions(db) if item[0] == "staff.login_failed"]
    assert failed == [("staff.login_failed", str(user.id)), ("staff.login_failed", "unknown")]
    # No username, password or address in the log: only staff ids.
    for secret in ("ward1", "nobody", "wrong password!", "testclient"):
        assert secret not in caplog.text


def test_disabled_user_is_refused_with_a_valid_token(
    client: TestClient, app: FastAPI
) -> None:
    add_staff(app, "ward1", Role.WARD)
    token = get_token(client, "ward1").json()["access_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    with Session(app.state.engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == "ward1")).one()
        set_disabled(session, user, True, by=None)
        session.commit()
    refused = client.get("/api/v1/auth/me", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    # Nor can it log in again, and the answer does not say why.
    again = get_token(client, "ward1")
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"


def test_role_changed_refuses_the_old_token(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    token = get_token(client, "ward1").json()["access_token"]
    with Session(app.state.engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == "ward1")).one()
        change_role(session, user, Role.CLERK, by=None)
        session.commit()
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    new_token = get_token(client, "ward1").json()["access_token"]
    me = client.get("/api/v1/auth/me", headers=bearer(new_token))
    assert me.json()["role"] == "clerk"


def test_api_token_and_session_cookie_are_not_interchangeable(
    client: TestClient, app: FastAPI
) -> None:
    add_staff(app, "ward1", Role.WARD)
    api_token = get_token(client, "ward1").json()["access_token"]
    assert page_login(client, "ward1").status_code == 303
    session_token = client.cookies.get(auth.SESSION_COOKIE)
    assert session_token
    assert client.get("/api/v1/auth/me").status_code == 200  # the cookie itself works

    client.cookies.clear()
    assert client.get("/api/v1/auth/me", headers=bearer(session_token)).status_code == 401
    client.cookies.set(auth.SESSION_COOKIE, api_token)
    assert client.get("/api/v1/auth/me").status_code == 401
    settings = app.state.settings
    assert read_token(settings, api_token, kind="session") is None
    assert read_token(settings, session_token, kind="api") is None


def _reencode(token: str, **changes: Any) -> str:
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_tampered_and_expired_tokens_are_refused(client: TestClient, app: FastAPI) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    add_staff(app, "admin1", Role.ADMIN)
    settings: Settings = app.state.settings
    token = issue_token(settings, user, kind="api")
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200

    payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_secret = settings.model_copy(
        update={"secret_key": SecretStr("another secret key 0123456789")}
    )
    expired = issue_token(
        settings, user, kind="api", issued_at=now() - timedelta(minutes=16)
    )
    long_lived = issue_token(settings, user, kind="api", lifetime=timedelta(days=1))
    forgeries = [
        _reencode(token, role="admin"),
        _reencode(token, sub="2"),
        _reencode(token, exp=4102444800),
        f"{payload}.{flipped}",
        f"{payload}.",
        f"{payload}.{signature}.{signature}",
        payload,
        issue_token(other_secret, user, kind="api"),
        expired,
        "",
        "not a token",
        "A" * 5000,
    ]
    for forged in forgeries:
        response = client.get("/api/v1/auth/me", headers=bearer(forged))
        assert response.status_code == 401, forged
        assert read_token(settings, forged, kind="api") is None
    for garbage in ["é.é", "e30.", ".", "..", "e30.e30", "bnVsbA.AAAA", "W10.AAAA"]:
        assert read_token(settings, garbage, kind="api") is None
    # Lifetime is the issuer's choice; the reader only checks exp.
    assert client.get("/api/v1/auth/me", headers=bearer(long_lived)).status_code == 200
    # A non-Bearer Authorization header is no login.
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic eDp5"}).status_code == 401


# --- throttling ---------------------------------------------------------------------------------


def test_throttle_locks_after_five_failures(client: TestClient, app: FastAPI, db: Session) -> None:
    add_staff(app, "ward1", Role.WARD)
    for _ in range(auth.USER_MAX_FAILURES):
        assert get_token(client, "ward1", "wrong password!").status_code == 401
    locked = get_token(client, "ward1")  # the right password, too late
    assert locked.status_code == 429
    assert locked.json()["error"] == "too_many_attempts"
    retry_after = int(locked.headers["retry-after"])
    assert 15 * 60 - 5 <= retry_after <= 15 * 60

    rows = {row.key: row for row in db.exec(select(LoginThrottle)).all()}
    user_key = throttle_key("user", "ward1")
    assert user_key == hashlib.sha256(b"user:ward1").hexdigest()
    assert set(rows) == {user_key, throttle_key("ip", "testclient")}
    assert all("ward1" not in key and "testclient" not in key for key in rows)
    assert rows[user_key].locked_until is not None

    # When the lock has passed, the right password works and clears the username's count.
    db.execute(
        text("UPDATE login_throttle SET locked_until = :past, window_started_at = :past"),
        {"past": (now() - timedelta(minutes=31)).replace(tzinfo=None)},
    )
    assert get_token(client, "ward1").status_code == 200
    keys = {row.key for row in db.exec(select(LoginThrottle)).all()}
    assert user_key not in keys


def test_a_success_clears_the_username_count(client: TestClient, app: FastAPI, db: Session) -> None:
    add_staff(app, "ward1", Role.WARD)
    for _ in range(auth.USER_MAX_FAILURES - 1):
        assert get_token(client, "ward1", "wrong password!").status_code == 401
    assert get_token(client, "ward1").status_code == 200
    assert db.get(LoginThrottle, throttle_key("user", "ward1")) is None
    address = db.get(LoginThrottle, throttle_key("ip", "testclient"))
    assert address is not None and address.failures == auth.USER_MAX_FAILURES - 1
    for _ in range(auth.USER_MAX_FAILURES - 1):
        assert get_token(client, "ward1", "wrong password!").status_code == 401
    assert get_token(client, "ward1").status_code == 200


def test_unknown_usernames_are_throttled_too(client: TestClient) -> None:
    for _ in range(auth.USER_MAX_FAILURES):
        assert get_token(client, "nobody", "wrong password!").status_code == 401
    assert get_token(client, "nobody", "wrong password!").status_code == 429


def test_an_address_is_throttled_across_usernames(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    for number in range(auth.ADDRESS_MAX_FAILURES):
        assert get_token(client, f"guess{number}", "wrong password!").status_code == 401
    refused = get_token(client, "ward1")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


def test_failures_outside_the_window_do_not_lock(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    start = now()

    def attempt(minute: int, password: str = "wrong password!") -> int:  # noqa: S107
        with Session(app.state.engine) as session:
            try:
                authenticate(
                    session, username="ward1", password=password,
                    client_address="10.0.0.1", via="api",
                    moment=start + timedelta(minutes=minute),
                )
            except auth.LoginRefused as refused:
                session.commit()
                return refused.status
            session.commit()
            return 200

    # Eight failures 4 minutes apart: a window restarts 15 minutes after it began, no lock.
    assert [attempt(minute) for minute in range(0, 32, 4)] == [401] * 8
    # Five within one window lock the username for 15 minutes from the fifth.
    assert [attempt(minute) for minute in range(40, 45)] == [401] * 5
    assert attempt(46, PASSWORD) == 429
    assert attempt(58, PASSWORD) == 429
    assert attempt(60, PASSWORD) == 200


# --- pages: login, CSRF, logout -----------------------------------------------------------------


def test_login_page_flow(client: TestClient, app: FastAPI, db: Session) -> None:
    user = add_staff(app, "ward1", Role.WARD)
    page = client.get("/login", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
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
    claims = read_token(app.state.settings, session_cookie.value, kind="session")
    assert claims is not None and claims.user_id == user.id and claims.csrf
    assert claims.exp - claims.iat == 8 * 60 * 60
    assert client.get("/api/v1/auth/me").json()["username"] == "ward1"
    # Logged in, the login page sends staff on to their home.
    again = client.get("/login", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/ward")


@pytest.mark.parametrize(
    ("role", "home"), [(Role.WARD, "/ward"), (Role.CLERK, "/registry"), (Role.ADMIN, "/admin")]
)
def test_login_goes_to_the_role_home(
    client: TestClient, app: FastAPI, role: Role, home: str
) -> None:
    add_staff(app, "someone", role)
    assert page_login(client, "someone").headers["location"] == home


def test_wrong_password_on_the_page(client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    response = page_login(client, "ward1", "wrong password!")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="flash error"' in response.text
    assert 'value="ward1"' in response.text
    assert auth.SESSION_COOKIE not in set_cookies(response)
    for _ in range(auth.USER_MAX_FAILURES - 1):
        page_login(client, "ward1", "wrong password!")
    locked = page_login(client, "ward1")
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


@pytest.mark.parametrize("token", [None, "", "wrong-token", "from-another-cookie"])
def test_login_without_a_valid_csrf_token_is_refused(
    client: TestClient, app: FastAPI, db: Session, token: str | None
) -> None:
    add_staff(app, "ward1", Role.WARD)
    entries_before = len(audit_actions(db))
    if token == "from-another-cookie":
        other = TestClient(app, base_url="http://testserver")
        token = login_form_token(other)
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
    refused = client.post(
        "/logout", data={"csrf_token": "wrong"}, follow_redirects=False
    )
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


# --- role checks and CSRF on protected routes ---------------------------------------------------


def probe_router() -> APIRouter:
    """Routes of each kind, to exercise the dependencies that domains will use."""
    router = APIRouter()

    @router.get("/ward/probe")
    def ward_page(user: WardStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.post("/ward/probe")
    def ward_form(user: WardStaff, note: str = Form("")) -> dict[str, Any]:
        return {"id": user.id, "note": note}

    @router.post("/api/v1/registry/probe")
    def clerk_api(user: ClerkStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.get("/admin/probe")
    def admin_page(user: AdminStaff) -> dict[str, Any]:
        return {"id": user.id}

    @router.get("/ward/either")
    def ward_or_clerk(
        user: Annotated[StaffUser, Depends(require_role(Role.WARD, Role.CLERK))],
    ) -> dict[str, Any]:
        return {"id": user.id}

    return router


PROBE_ROLES = {
    ("GET", "/ward/probe"): frozenset({Role.WARD}),
    ("POST", "/ward/probe"): frozenset({Role.WARD}),
    ("POST", "/api/v1/registry/probe"): frozenset({Role.CLERK}),
    ("GET", "/admin/probe"): frozenset({Role.ADMIN}),
    ("GET", "/ward/either"): frozenset({Role.WARD, Role.CLERK}),
}


@pytest.fixture
def probe_client(app: FastAPI) -> Iterator[TestClient]:
    app.include_router(probe_router())
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def test_role_dependencies_are_declared_on_routes(app: FastAPI) -> None:
    app.include_router(probe_router())
    # A router's own dependencies count for its routes.
    admin_router = APIRouter(dependencies=[Depends(require_role(Role.ADMIN))])

    @admin_router.get("/probe")
    def admin_only() -> None:
        return None

    app.include_router(admin_router, prefix="/admin/router")
    declared = {(method, path): roles for method, path, roles in route_table(app)}
    for key, roles in PROBE_ROLES.items():
        assert declared[key] == roles
    assert declared[("GET", "/admin/router/probe")] == frozenset({Role.ADMIN})
    assert declared[("*", "/static")] is None
    assert declared[("GET", "/api/v1/auth/me")] == ALL_STAFF
    assert declared[("POST", "/api/v1/auth/token")] is None
    assert repr(require_role(Role.CLERK, Role.WARD)) == "require_role(clerk, ward)"


def tokens_by_role(app: FastAPI) -> dict[Role, str]:
    return {
        role: issue_token(
            app.state.settings, add_staff(app, f"probe-{role.value}", role), kind="api"
        )
        for role in Role
    }


def test_roles_are_enforced(probe_client: TestClient, app: FastAPI) -> None:
    tokens = tokens_by_role(app)
    for (method, path), allowed in PROBE_ROLES.items():
        assert probe_client.request(method, path).status_code == 401
        for role, token in tokens.items():
            response = probe_client.request(method, path, headers=bearer(token))
            if role in allowed:
                assert response.status_code == 200, (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert response.json()["error"] == "forbidden_role"


def test_pages_redirect_to_login(probe_client: TestClient) -> None:
    page = probe_client.get(
        "/ward/probe?day=today", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/ward/probe%3Fday%3Dtoday"
    assert auth.SESSION_COOKIE not in set_cookies(page)
    # A stale session cookie is cleared on the way to the login page.
    probe_client.cookies.set(auth.SESSION_COOKIE, "stale.cookie")
    stale = probe_client.get("/ward/probe", headers={"Accept": "text/html"},
                             follow_redirects=False)
    assert stale.status_code == 303
    assert set_cookies(stale)[auth.SESSION_COOKIE][auth.SESSION_COOKIE]["max-age"] == "0"
    probe_client.cookies.clear()
    api = probe_client.post("/api/v1/registry/probe", headers={"Accept": "text/html"})
    assert api.status_code == 401
    assert api.json()["error"] == "not_authenticated"
    assert api.headers["www-authenticate"] == "Bearer"


def test_wrong_role_on_a_page_is_an_error_page(probe_client: TestClient, app: FastAPI) -> None:
    add_staff(app, "clerk1", Role.CLERK)
    page_login(probe_client, "clerk1")
    page = probe_client.get("/ward/probe", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert "forbidden_role" in page.text


def test_forms_on_a_session_need_the_csrf_token(probe_client: TestClient, app: FastAPI) -> None:
    add_staff(app, "ward1", Role.WARD)
    page_login(probe_client, "ward1")
    token = session_csrf(probe_client)
    assert probe_client.get("/ward/probe").status_code == 200  # reading needs no token
    for data, headers in [
        ({"note": "x"}, {}),
        ({"note": "x", "csrf_token": "wrong"}, {}),
        ({"note": "x", "csrf_token": token + "x"}, {}),
        ({"note": "x"}, {"X-CSRF-Token": "wrong"}),
    ]:
        refused = probe_client.post("/ward/probe", data=data, headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_failed"
    accepted = probe_client.post("/ward/probe", data={"note": "x", "csrf_token": token})
    assert accepted.status_code == 200
    assert accepted.json()["note"] == "x"
    by_header = probe_client.post(
        "/ward/probe", data={"note": "y"}, headers={"X-CSRF-Token": token}
    )
    assert by_header.status_code == 200
    # API clients send no cookie and no CSRF token.
    probe_client.cookies.clear()
    api_token = get_token(probe_client, "ward1").json()["access_token"]
    assert probe_client.post(
        "/ward/probe", data={"note": "z"}, headers=bearer(api_token)
    ).status_code == 200


def test_templates_get_the_session_csrf_token(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/ward/form-probe")
    def form_page(request: Request, user: WardStaff) -> Response:
        return app.state.templates.TemplateResponse(request, "login.html", {})

    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as client:
        add_staff(app, "ward1", Role.WARD)
        page_login(client, "ward1")
        page = client.get("/ward/form-probe", headers={"Accept": "text/html"})
        assert f'name="csrf_token" value="{session_csrf(client)}"' in page.text


# --- every route and who may call it ------------------------------------------------------------

#: Route prefixes where every route must say who may call it (an entry in ROUTE_ROLES).
PROTECTED_PREFIXES = ("/api/v1/ward", "/api/v1/registry", "/ward", "/registry", "/admin")
#: Public by design: anyone may call these (no login).
PUBLIC_PREFIXES = (
    "/pki",
    "/api/v1/enroll",
    # The parents' pages: no staff login. What needs more is guarded by the key holder's own
    # session (a signature of her enrolled key; tests/parents), which staff tokens never open.
    "/enroll",
    "/parents",
    "/api/v1/parents",
    "/api/v1/verify",
    "/api/v1/auth/token",
    "/verify",
    "/static",
    "/login",
    "/logout",
    "/language",
    "/healthz",
    "/docs",
    "/redoc",
    "/openapi.json",
)
PUBLIC_PATHS = {"/"}
#: (method, path) → the roles that may call it; None: anyone (public by design, e.g. a
#: registry route the design opens to all). Later domains add their routes here.
WARD = frozenset({Role.WARD})
CLERK = frozenset({Role.CLERK})
ROUTE_ROLES: dict[tuple[str, str], frozenset[Role] | None] = {
    ("GET", "/api/v1/auth/me"): ALL_STAFF,
    # The ward (DESIGN.md, "HTTP endpoints").
    ("POST", "/api/v1/ward/births"): WARD,
    ("GET", "/api/v1/ward/births"): WARD,
    ("GET", "/api/v1/ward/births/{birth_id}"): WARD,
    ("POST", "/api/v1/ward/births/{birth_id}/enrollments"): WARD,
    ("POST", "/api/v1/ward/enrollments/{enrollment_id}/pkcs12"): WARD,
    ("POST", "/api/v1/ward/certificates/{serial}/revoke"): WARD,
    # The ward's pages (birthreg/ward/pages.py).
    ("GET", "/ward"): WARD,
    ("GET", "/ward/births/new"): WARD,
    ("POST", "/ward/births/new"): WARD,
    ("GET", "/ward/births/{birth_id}"): WARD,
    ("POST", "/ward/births/{birth_id}/enrollments"): WARD,
    ("POST", "/ward/enrollments/{enrollment_id}/pkcs12"): WARD,
    ("POST", "/ward/certificates/{serial}/revoke"): WARD,
    # A key holder revokes their own certificate with a signature of that key: no login.
    ("POST", "/api/v1/certificates/{serial}/revoke"): None,
    # The registry: anyone submits a signed dossier; clerks work the queue.
    ("POST", "/api/v1/registry/submissions"): None,
    ("GET", "/api/v1/registry/submissions/{submission_id}/status"): None,  # the submitter's view
    ("GET", "/api/v1/registry/submissions"): CLERK,
    ("GET", "/api/v1/registry/submissions/{submission_id}"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/register"): CLERK,
    ("POST", "/api/v1/registry/submissions/{submission_id}/reject"): CLERK,
    # The certificate: whoever holds its unguessable id (the mother's status page gives it).
    ("GET", "/api/v1/registry/certificates/{certificate_id}"): None,
    ("GET", "/api/v1/registry/certificates/{certificate_id}.pdf"): None,
    ("GET", "/registry/certificates/{certificate_id}/print"): None,
    # The clerk's pages.
    ("GET", "/registry"): CLERK,
    ("GET", "/registry/submissions/{submission_id}"): CLERK,
    ("POST", "/registry/submissions/{submission_id}/register"): CLERK,
    ("POST", "/registry/submissions/{submission_id}/reject"): CLERK,
    ("GET", "/registry/check"): CLERK,
    ("POST", "/registry/check"): CLERK,
    # The audit trail's newest signed checkpoint: anyone may keep a copy.
    ("GET", "/api/v1/audit/checkpoints/latest"): None,
}


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def test_every_route_declares_who_may_call_it(app: FastAPI) -> None:
    problems = []
    for method, path, declared in route_table(app):
        if (method, path) in ROUTE_ROLES:
            expected = ROUTE_ROLES[(method, path)]
            if declared != expected:
                problems.append(f"{method} {path}: declares {declared}, the table says {expected}")
        elif _under(path, PROTECTED_PREFIXES):
            problems.append(
                f"{method} {path}: a protected route missing from ROUTE_ROLES "
                f"(it declares {declared})"
            )
        elif path in PUBLIC_PATHS or _under(path, PUBLIC_PREFIXES):
            if declared is not None:
                problems.append(f"{method} {path}: public by design but declares {declared}")
        else:
            problems.append(f"{method} {path}: not classified (add it to ROUTE_ROLES)")
    assert not problems, "\n".join(problems)
    listed = {(method, path) for method, path, _ in route_table(app)}
    assert not set(ROUTE_ROLES) - listed, "ROUTE_ROLES names routes the app lacks"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0", path)


def test_every_route_answers_by_role(client: TestClient, app: FastAPI) -> None:
    tokens = tokens_by_role(app)
    for (method, path), allowed in ROUTE_ROLES.items():
        url = _concrete(path)
        if allowed is None:
            response = client.request(method, url)
            assert response.status_code not in (401, 403), (method, path)
            continue
        assert client.request(method, url).status_code == 401, (method, path)
        for role, token in tokens.items():
            response = client.request(method, url, headers=bearer(token))
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert response.json()["error"] == "forbidden_role"


# --- rehashing ----------------------------------------------------------------------------------


def test_login_rehashes_when_parameters_change(
    client: TestClient, app: FastAPI, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_staff(app, "ward1", Role.WARD)
    old_hash = db.exec(select(StaffUser.password_hash)).one()
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(auth, "password_hasher", stronger)
    assert get_token(client, "ward1").status_code == 200
    new_hash = db.exec(select(StaffUser.password_hash)).one()
    assert new_hash != old_hash
    assert not stronger.check_needs_rehash(new_hash)
    assert get_token(client, "ward1").status_code == 200
    assert db.exec(select(StaffUser.password_hash)).one() == new_hash


# --- birthreg users add -------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    service_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("BIRTHREG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the project
    return {
        "BIRTHREG_DATA_DIR": str(service_settings.data_dir),
        "BIRTHREG_DATABASE_URL": service_settings.database_url,
        "BIRTHREG_ENV": "development",
    }


def test_users_add(client: TestClient, db: Session, cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        cli,
        ["users", "add", "Nurse.Aigerim", "--role", "ward", "--password-stdin",
         "--display-name", "Aigerim S."],
        input=PASSWORD + "\n",
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "nurse.aigerim" in result.output
    user = db.exec(select(StaffUser).where(StaffUser.username == "nurse.aigerim")).one()
    assert (user.role, user.display_name) == ("ward", "Aigerim S.")
    assert get_token(client, "nurse.aigerim").status_code == 200


def test_users_add_runs_migrations_on_an_empty_database(
    service_settings: Settings, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        cli, ["users", "add", "admin", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n", env=cli_env,
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (["users", "add", "nurse", "--role", "ward"], PASSWORD + "\n", "--password-stdin"),
        (["users", "add", "nurse", "--role", "ward", "--password-stdin"], "", "no password"),
        (["users", "add", "nurse", "--role", "ward", "--password-stdin"], "short\n",
         "at least 10"),
        (["users", "add", "a b", "--role", "ward", "--password-stdin"], PASSWORD + "\n",
         "username"),
        (["users", "add", "taken", "--role", "ward", "--password-stdin"], PASSWORD + "\n",
         "taken"),
        (["users", "add", "nurse", "--role", "doctor", "--password-stdin"], PASSWORD + "\n",
         "doctor"),
    ],
)
def test_users_add_refuses_bad_input(
    client: TestClient, app: FastAPI, cli_env: dict[str, str],
    arguments: list[str], stdin: str, message: str,
) -> None:
    add_staff(app, "taken", Role.CLERK)
    result = CliRunner().invoke(cli, arguments, input=stdin, env=cli_env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert PASSWORD not in result.output
    assert "Traceback" not in result.output
